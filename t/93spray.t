# No number of bad credentials can evict a live session (SPEC "Cache" and
# "Details that users will rely on": negative, name and account entries are
# stored apart from positive ones, or bounded so that positive entries keep
# their room).
#
# An httpd of this file (PALTest::httpd_start) with a small cache,
# ProxyAuthCache "shmcb:(262144)" (a few hundred entries), and a slapd of
# its own: alice's session is made (one 200 from LDAP) and shown to be a
# cache hit; then 3000 requests with unknown user names (and a few wrong
# passwords of real users) from 6 clients at once; then alice's next request
# must still be a cache hit: note "cache" in the access log and no LDAP
# operation in cn=Monitor.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use HTTP::Request;
use IO::Handle;
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 9;

my $CLIENTS = 6;
my $PER_CLIENT = 500;
my $origin = origin_hostport();
my $run = "$$-" . int(time);
my $seq = 0;

my $slapd = slapd_start(tls => 0);
my $lport = $slapd->{ldap_port};
my $px = httpd_start(conf => <<"EOC");
ProxyAuthCache "shmcb:(262144)"
LogFormat "%u %>s %{proxyauth-result}n \\"%r\\"" spray
CustomLog "\@DIR\@/access_log" spray
ProxyRequests On
ProxyVia Off
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthRealm "Spray"
    ProxyAuthLDAPURL "ldap://127.0.0.1:$lport/dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)"
    ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
    ProxyAuthLDAPBindPassword "svc-secret"
    ProxyAuthLDAPTimeout 5
</Proxy>
EOC
local $PALTest::PROXY_HOSTPORT = "127.0.0.1:$px->{port}";

# alice's request on a new connection -> (response, access-log line, LDAP ops)
sub alice {
    my $tag = 'sp' . ++$seq . "-$run";
    my $c0 = monitor_counts($lport);
    my $r = proxy_request(GET => "http://$origin/index.html?$tag",
                          'Proxy-Authorization' => basic('alice', 'alice-secret'));
    my $c1 = monitor_counts($lport);
    my $line = '';
    my $deadline = time + 3;
    while (!$line && time < $deadline) {
        open my $fh, '<', "$px->{dir}/access_log" or last;
        ($line) = grep { index($_, "?$tag ") >= 0 } <$fh>;
        $line //= '';
        chomp $line;
        sleep 0.05 unless $line;
    }
    return ($r, $line, $c1->{bind} - $c0->{bind} + $c1->{search} - $c0->{search});
}

my ($r, $line, $ops) = alice();
is $r->code, 200, 'alice: 200';
like $line, qr/^alice 200 ldap /, 'alice: validated by LDAP' or diag "access log: $line";
($r, $line, $ops) = alice();
like $line, qr/^alice 200 cache /, 'alice again: a cache hit' or diag "access log: $line";
is $ops, 0, 'alice again: no LDAP operation';

# The spray: each client on one keep-alive connection; a few wrong passwords
# of real users among the unknown names.
my @kids;
my $t0 = time;
for my $k (1 .. $CLIENTS) {
    pipe my $rd, my $wr or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $rd;
        my $ua = proxy_ua(keep_alive => 1);
        my %codes;
        for my $i (1 .. $PER_CLIENT) {
            my ($u, $p) = $i % 100 == 0 ? ((qw(bob carol colon))[$i / 100 % 3], "wrong-$k-$i-$run")
                                        : ("spray-$k-$i-$run", "pw-$i");
            my $res = $ua->request(HTTP::Request->new(GET => "http://$origin/index.html",
                                                      ['Proxy-Authorization' => basic($u, $p)]));
            $codes{ $res->code }++;
        }
        print {$wr} join(' ', map { "$_=$codes{$_}" } sort keys %codes), "\n";
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    push @kids, [$pid, $rd];
}
my %all;
for my $kid (@kids) {
    my ($pid, $rd) = @$kid;
    my $l = <$rd> // '';
    close $rd;
    waitpid $pid, 0;
    $all{$1} += $2 while $l =~ /(\d+)=(\d+)/g;
}
my $total = $CLIENTS * $PER_CLIENT;
is $all{407} // 0, $total, sprintf('spray: %d bad credentials from %d clients, 407 each (%.1f s)',
                                   $total, $CLIENTS, time - $t0)
    or diag 'status codes: ' . join(', ', map { "$_: $all{$_}" } sort keys %all);

($r, $line, $ops) = alice();
is $r->code, 200, 'alice after the spray: 200';
like $line, qr/^alice 200 cache /, 'alice after the spray: still a cache hit'
    or diag "access log: $line";
is $ops, 0, 'alice after the spray: no LDAP operation';

is httpd_stop($px), 0, 'the proxy exits 0 on SIGTERM' or diag "httpd: $px->{status_text}";
slapd_stop($slapd);
