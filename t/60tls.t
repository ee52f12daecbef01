# LDAPS and StartTLS with certificate verification.
# - Fixture slapd: /s/ldaps/, /s/starttls/ and /s/noverify/ (wrong CA but
#   ProxyAuthLDAPVerifyServerCert Off) -> 200; the startup warning PAL0004.
# - A slapd of this test's own (SPARE4 ports, scopes /s/ld-tls-*/ of
#   t/conf/ldap.conf.in) that refuses simple binds without TLS
#   (security simple_bind=128): there a 200 proves that the service bind and
#   the user bind went over TLS, and a wrong CA must give 503 with no Bind or
#   Search reaching the server (never a fallback to plain text, never 407).
#   The wrong-CA checks run there and not against the shared fixture
#   (/s/wrongca/, /s/starttls-wrongca/ of extra.conf.in): a TLS failure marks
#   host:port down for 30 s, which would turn the fixture's scopes into 503s
#   for the test files that follow.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use Time::HiRes qw(time sleep);

plan tests => 28;

my $origin = origin_hostport();
my $P4     = $ENV{PAL_LDAP_SPARE4_PORT}  or die "PAL_LDAP_SPARE4_PORT not set (t/TEST.PL)\n";
my $PS4    = $ENV{PAL_LDAPS_SPARE4_PORT} or die "PAL_LDAPS_SPARE4_PORT not set (t/TEST.PL)\n";

sub get {
    my ($scope, $user, $pw) = @_;
    return proxy_request(GET => "http://$origin/s/$scope/index.html",
                         'Proxy-Authorization' => basic($user, $pw));
}
sub marked_down_re { my ($port) = @_; qr/PAL0401: LDAP server 127\.0\.0\.1:$port marked down/ }
sub log_after {
    my ($mark, $re) = @_;
    my $deadline = time + 2;
    my $text;
    while (1) {
        $text = error_log_since($mark);
        return $text if $re && $text =~ $re;
        last if time > $deadline;
        sleep 0.05;
    }
    return $text;
}
sub delta {
    my ($a, $b) = @_;
    return { map { $_ => $b->{$_} - $a->{$_} } qw(bind search connections_total) };
}
sub show { my ($d) = @_; join ', ', map { "$_ $d->{$_}" } sort keys %$d }
sub no_challenge_503 {
    my ($r, $what) = @_;
    is $r->code, 503, "$what -> 503" or diag $r->status_line;
    ok +($r->header('Retry-After') // '') =~ /^\d+$/ && !defined $r->header('Proxy-Authenticate'),
       "$what: Retry-After, no Proxy-Authenticate";
}

# --- the fixture ---
is get('ldaps', 'alice', 'alice-secret')->code, 200, '/s/ldaps/: alice -> 200';
is get('starttls', 'bob', 'bob-secret')->code, 200, '/s/starttls/: bob -> 200';
is get('noverify', 'carol', 'carol-secret')->code, 200,
   '/s/noverify/ (wrong CA, VerifyServerCert Off): carol -> 200';
is get('ldaps', 'alice', 'wrong-pw')->code, 407, '/s/ldaps/: wrong password -> 407 (over TLS)';
like error_log_since(0), qr/PAL0004: ProxyAuthLDAPVerifyServerCert Off/,
     'startup warning PAL0004 for ProxyAuthLDAPVerifyServerCert Off in t/logs/error_log';

# --- a slapd that accepts simple binds only over TLS ---
my $s = eval {
    slapd_start(ports => { ldap => $P4, ldaps => $PS4 },
                global_conf => 'security simple_bind=128')
};
ok $s, "own slapd on $P4 (ldap) and $PS4 (ldaps), simple binds need TLS" or diag $@;
BAIL_OUT('no slapd') unless $s;

# The server really refuses a plain simple bind (checked with a client of ours).
{
    require Net::LDAP;
    my $l = Net::LDAP->new('127.0.0.1', port => $P4, timeout => 5) or die "connect: $@";
    my $m = $l->bind('cn=proxy-svc,dc=example,dc=test', password => 'svc-secret');
    is $m->code, 13, 'own slapd: a plain-text simple bind is refused (confidentialityRequired)';
    $l->unbind;
}

{
    my $c0 = monitor_counts($P4);
    is get('ld-tls-ldaps', 'alice', 'alice-secret')->code, 200,
       'ldaps:// with the right CA: alice -> 200 (both binds over TLS)';
    is get('ld-tls-starttls', 'bob', 'bob-secret')->code, 200,
       'StartTLS with the right CA: bob -> 200 (both binds over TLS)';
    my $d = delta($c0, monitor_counts($P4));
    is $d->{search}, 2, 'two searches' or diag show($d);
    ok $d->{bind} >= 2 && $d->{bind} <= 4, "2 user binds + at most 2 service binds (got $d->{bind})"
        or diag show($d);
}

# Control: the same server without TLS cannot be used (service bind refused,
# rc 13): 503, logged as a service-bind problem, server not marked down.
{
    my $m = error_log_mark();
    my $r = get('ld-tls-plain', 'alice', 'alice-secret');
    no_challenge_503($r, 'plain ldap:// to the TLS-only server');
    my $log = log_after($m, qr/PAL0201/);
    unlike $log, marked_down_re($P4), '... and the server is not marked down';
}

# Wrong CA over ldaps://: the handshake fails, nothing is sent in clear.
# (Not alice: this scope has the URL, hence the cache context, of
# /s/ld-tls-ldaps/, where her pair was validated; a cache hit is right.)
{
    my $c0 = monitor_counts($P4);
    my $m = error_log_mark();
    my $t0 = time;
    my $r = get('ld-tls-wrongca', 'carol', 'carol-secret');
    my $dt = time - $t0;
    my $d = delta($c0, monitor_counts($P4));
    no_challenge_503($r, 'ldaps:// with a CA that did not sign the server certificate');
    ok $dt < 10, sprintf('... answered in %.1f s', $dt);
    is $d->{bind}, 0, '... no Bind reached the server' or diag show($d);
    is $d->{search}, 0, '... no Search reached the server' or diag show($d);
    like log_after($m, marked_down_re($PS4)), marked_down_re($PS4),
         '... the server counts as unreachable (marked down)';
    is get('ld-tls-wrongca', 'spaced name', 'spaced-secret')->code, 503, '... and stays 503 (skipped)';
}

# Wrong CA with StartTLS: no fallback to the plain connection. (Not bob: his
# pair was validated in /s/ld-tls-starttls/, same URL.)
{
    my $c0 = monitor_counts($P4);
    my $m = error_log_mark();
    my $t0 = time;
    my $r = get('ld-tls-starttls-wrongca', 'carol', 'carol-secret');
    my $dt = time - $t0;
    my $d = delta($c0, monitor_counts($P4));
    no_challenge_503($r, 'StartTLS with a CA that did not sign the server certificate');
    ok $dt < 10, sprintf('... answered in %.1f s', $dt);
    is $d->{bind}, 0, '... no Bind reached the server (no plain-text fallback)' or diag show($d);
    is $d->{search}, 0, '... no Search reached the server' or diag show($d);
    like log_after($m, marked_down_re($P4)), marked_down_re($P4),
         '... the server counts as unreachable (marked down)';
}

# The fixture's own TLS scopes are untouched by all that.
is get('starttls', 'alice', 'alice-secret')->code, 200, '/s/starttls/ on the fixture still -> 200';

slapd_stop($s);
