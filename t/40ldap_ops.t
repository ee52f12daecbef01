# LDAP operations per authentication, counted by slapd's cn=Monitor:
# (a) one service bind per pooled connection, not per request (search-then-bind
#     with a search handle that is never rebound);
# (b) an empty password never reaches LDAP;
# (c) one user bind per authentication: wrong password = 1 search + 1 bind,
#     unknown user = 1 search + 0 binds.
# A slapd of this test's own (PAL_LDAP_SPARE3_PORT, scope /s/ld-ops/ of
# t/conf/ldap.conf.in) with 24 users of its own, so every count is ours and
# every request of the two batches is a different user:password pair (a
# credentials cache cannot answer any of them).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use File::Temp ();

plan tests => 21;

my $origin = origin_hostport();
my $port   = $ENV{PAL_LDAP_SPARE3_PORT} or die "PAL_LDAP_SPARE3_PORT not set (t/TEST.PL)\n";
my $url    = "http://$origin/s/ld-ops/index.html";
my $N      = 10;

# The directory: the suffix, the service account and user01..user24.
my $ldif = people_ldif(map { my $u = sprintf 'user%02d', $_; ($u => "$u-pw") } 1 .. 24);
my $seed = File::Temp->new(SUFFIX => '.ldif');
print {$seed} $ldif;
close $seed;

my $slapd = eval { slapd_start(ports => { ldap => $port }, tls => 0, seed => "$seed") };
ok $slapd, "own slapd on 127.0.0.1:$port" or diag $@;
BAIL_OUT("no slapd") unless $slapd;

# One keep-alive client connection: the same httpd child (and its pool)
# serves every request, under prefork too.
my $ua = proxy_ua(keep_alive => 1);
my %client_ports;
sub req {
    my ($user, $pw) = @_;
    my $r = $ua->get($url, 'Proxy-Authorization' => basic($user, $pw));
    $client_ports{ $_->sockport }++ for $ua->conn_cache->get_connections;
    return $r;
}
sub delta {
    my ($a, $b) = @_;
    return { map { $_ => $b->{$_} - $a->{$_} } qw(bind search connections_total) };
}
sub show { my ($d) = @_; join ', ', map { "$_ $d->{$_}" } sort keys %$d }

# (a) first batch: users 01..10
my $c0 = monitor_counts($port);
my @codes = map { req(sprintf('user%02d', $_), sprintf('user%02d-pw', $_))->code } 1 .. $N;
my $c1 = monitor_counts($port);
my $d1 = delta($c0, $c1);
is "@codes", join(' ', ('200') x $N), "batch 1: $N distinct valid users -> 200";
is $d1->{search}, $N, "batch 1: $N searches (one per authentication)" or diag show($d1);
ok $d1->{bind} >= $N && $d1->{bind} <= $N + 1,
   "batch 1: $N user binds + at most 1 service bind (got $d1->{bind})" or diag show($d1);

# (a) second batch on the same connection: users 11..20, the service bind is done
@codes = map { req(sprintf('user%02d', $_), sprintf('user%02d-pw', $_))->code } $N + 1 .. 2 * $N;
my $c2 = monitor_counts($port);
my $d2 = delta($c1, $c2);
is "@codes", join(' ', ('200') x $N), "batch 2: $N more distinct valid users -> 200";
is $d2->{bind}, $N, "batch 2: exactly $N binds (no service rebind per request)" or diag show($d2);
is $d2->{search}, $N, "batch 2: exactly $N searches" or diag show($d2);
my $dc = $c2->{connections_total} - $c0->{connections_total};
ok $dc <= 2, "both batches: at most 2 new LDAP connections (search + bind handle of one slot), got $dc"
    or diag show(delta($c0, $c2));
is scalar(keys %client_ports), 1, 'all requests went over one client connection'
    or diag 'client ports: ' . join(' ', sort keys %client_ports);

# (b) an empty password: 407, and no LDAP operation at all
{
    my $b0 = monitor_counts($port);
    my $r = req('user21', '');
    my $d = delta($b0, monitor_counts($port));
    is $r->code, 407, 'empty password -> 407';
    like $r->header('Proxy-Authenticate') // '', qr/^Basic realm="/, 'empty password: Proxy-Authenticate';
    is $d->{bind}, 0, 'empty password: no bind' or diag show($d);
    is $d->{search}, 0, 'empty password: no search' or diag show($d);
}

# (c) a wrong password: one search, one bind (the user's, rc 49)
{
    my $b0 = monitor_counts($port);
    my $r = req('user22', 'not-user22-pw');
    my $d = delta($b0, monitor_counts($port));
    is $r->code, 407, 'wrong password -> 407';
    is $d->{search}, 1, 'wrong password: exactly 1 search' or diag show($d);
    is $d->{bind}, 1, 'wrong password: exactly 1 bind' or diag show($d);
}

# (c) an unknown user: one search, no bind
{
    my $b0 = monitor_counts($port);
    my $r = req('nobody-here', 'whatever-pw');
    my $d = delta($b0, monitor_counts($port));
    is $r->code, 407, 'unknown user -> 407';
    is $d->{search}, 1, 'unknown user: exactly 1 search' or diag show($d);
    is $d->{bind}, 0, 'unknown user: no bind' or diag show($d);
}

# And a valid user after all that: still one search + one bind on the pooled slot.
{
    my $b0 = monitor_counts($port);
    my $r = req('user23', 'user23-pw');
    my $d = delta($b0, monitor_counts($port));
    is $r->code, 200, 'valid user after the failures -> 200';
    is "$d->{search} $d->{bind} $d->{connections_total}", '1 1 0',
       'valid user after the failures: 1 search, 1 bind, no new connection' or diag show($d);
}

slapd_stop($slapd);
