# The soft lock (ProxyAuthMaxBadPasswords) is on the account, the entry's DN
# (SPEC "Details that users will rely on"):
#  1. whatever spelling of the name reached it: wrong passwords sent as
#     "alice" and as "Alice" count for one account, and once the limit is
#     reached the right password sent as "ALICE" is refused without a bind;
#  2. under concurrency: n distinct wrong passwords sent at the same instant
#     cause at most ProxyAuthMaxBadPasswords binds for that DN.
#
# Scopes /s/rg-spell/ (MaxBadPasswords 2) and /s/rg-burst/ (MaxBadPasswords
# 3) of t/conf/regressions.conf.in use a slapd of this file with the "stats"
# log level: user binds are counted by the DN on slapd's BIND lines, apart
# from the service account's. httpd reaches it through a relay on
# PAL_LDAP_SPARE6_PORT (t/lib/slow_relay.pl) that holds each answer 0.2 s,
# as a directory a few hops away would: a simultaneous request then always
# finds the others' binds in progress, however busy the machine is.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALRegress;
use Time::HiRes qw(sleep time);

plan tests => 8;

my $origin = origin_hostport();
my $SP = $ENV{PAL_LDAP_SPARE6_PORT} or die "PAL_LDAP_SPARE6_PORT not set (t/TEST.PL)\n";
my $run = "$$-" . int(time);
my $seq = 0;
my $ALICE_DN = 'uid=alice,ou=people,dc=example,dc=test';
my $BOB_DN   = 'uid=bob,ou=people,dc=example,dc=test';

my $slapd = slapd_start(tls => 0, loglevel => 'stats');
my $relay = relay_start(listen => $SP, backend => $slapd->{ldap_port}, delay => 0.2);

sub url { my ($scope) = @_; return "http://$origin/s/$scope/index.html?sl" . ++$seq . "-$run" }

sub get {
    my ($scope, $user, $pw) = @_;
    return proxy_request(GET => url($scope), 'Proxy-Authorization' => basic($user, $pw));
}

# BIND lines of $dn since $off, once slapd has finished every operation.
sub binds_since {
    my ($off, $dn) = @_;
    monitor_counts($slapd->{ldap_port});
    return user_binds($slapd->{log}, $off, $dn);
}

# ---------------------------------------------------------------------------
# 1. One account, three spellings (MaxBadPasswords 2).
{
    my $off = -s $slapd->{log} || 0;
    my $r1 = get('rg-spell', 'alice', "wrong-1-$run");
    my $n1 = binds_since($off, $ALICE_DN);
    my $r2 = get('rg-spell', 'Alice', "wrong-2-$run");
    my $n2 = binds_since($off, $ALICE_DN);
    is join(' ', $r1->code, $r2->code, $n1, $n2), '407 407 1 2',
       'rg-spell: wrong passwords as "alice" and "Alice": 407 each, one user bind each';

    my $r3 = get('rg-spell', 'ALICE', 'alice-secret');
    my $n3 = binds_since($off, $ALICE_DN);
    is $r3->code, 407,
       'rg-spell: the right password as "ALICE" after 2 wrong ones for the same DN: 407 (soft lock)'
        or diag 'got ' . $r3->status_line;
    ok defined $r3->header('Proxy-Authenticate'), 'rg-spell: the soft-lock 407 carries the challenge';
    is $n3 - $n2, 0, 'rg-spell: no bind for alice\'s DN during the soft lock'
        or diag "user binds of $ALICE_DN: $n3 in all, $n2 before the right password";
    is $n3, 2, "rg-spell: exactly 2 user binds for $ALICE_DN (MaxBadPasswords 2)";
}

# ---------------------------------------------------------------------------
# 2. 10 distinct wrong passwords for bob at the same instant (MaxBadPasswords 3).
{
    my $N = 10;
    my $off = -s $slapd->{log} || 0;
    my @reqs = map {
        raw_get(url('rg-burst'), 'Proxy-Authorization' => basic('bob', "burst-$_-$run"))
    } 1 .. $N;
    my @codes = simultaneous(\@reqs);
    is "@codes", join(' ', ('407') x $N), "rg-burst: $N simultaneous wrong passwords: 407 each";
    my $n = binds_since($off, $BOB_DN);
    cmp_ok $n, '>=', 1, 'rg-burst: the wrong passwords reached LDAP';
    cmp_ok $n, '<=', 3, "rg-burst: at most 3 user binds for $BOB_DN (MaxBadPasswords 3)"
        or diag "$n user binds for $N simultaneous distinct wrong passwords";
}

helper_stop($relay);
slapd_stop($slapd);
