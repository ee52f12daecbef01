# Waiting for a pooled connection never marks a server down (SPEC "Details
# that users will rely on": the wait counts against the request's deadline,
# but only the server's own failure to connect, negotiate TLS or answer in
# time marks it down).
#
# Scope /s/rg-poolwait/ of t/conf/regressions.conf.in: ProxyAuthLDAPPoolSize
# 1 and ProxyAuthLDAPTimeout 3, on a relay (t/lib/slow_relay.pl) on
# PAL_LDAP_SPARE8_PORT in front of a slapd of this file. The relay holds
# every server->client chunk for 0.5 s: a first authentication on a
# new pooled connection (service bind, search, user bind) takes about 1.5 s,
# a later one 1 s. 12 uncached users arrive at once; in a child that gets
# several of them, the later ones get the only connection with little of
# their deadline left. Afterwards (the relay no longer slow) the server must
# still be up: the status page says so and the next user gets 200.
#
# prefork serves one request per child: no request ever waits for a pooled
# connection, so the file is skipped there.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALRegress;
use Time::HiRes qw(sleep time);

plan skip_all => 'prefork: a child never waits for its pooled connection'
    if ($ENV{PAL_MPM} // 'event') eq 'prefork';
plan tests => 4;

my $origin = origin_hostport();
my $RELAY = $ENV{PAL_LDAP_SPARE8_PORT} or die "PAL_LDAP_SPARE8_PORT not set (t/TEST.PL)\n";
my $DELAY = 0.5;
my $N = 12;
my $run = "$$-" . int(time);

my %pw = map { (sprintf('pw%02d', $_) => "pw-secret-$_") } 1 .. $N + 1;
my $seed = PALTest::_base_tmp() . "/poolwait-$$.ldif";
{
    open my $fh, '>', $seed or die "write $seed: $!";
    print {$fh} people_ldif(%pw);
    close $fh or die "close $seed: $!";
}
my $slapd = slapd_start(tls => 0, seed => $seed);
unlink $seed;

my $relay = relay_start(listen => $RELAY, backend => $slapd->{ldap_port}, delay => $DELAY);

my $mark = error_log_mark();
my @users = sort keys %pw;
my $last = pop @users;
my @reqs = map {
    raw_get("http://$origin/s/rg-poolwait/index.html?$_-$run",
            'Proxy-Authorization' => basic($_, $pw{$_}))
} @users;
my @codes = simultaneous(\@reqs, timeout => 30);
my %n;
$n{$_}++ for @codes;
my $summary = join ', ', map { "$_: $n{$_}" } sort keys %n;
ok !grep({ !/^(?:200|503)$/ } @codes), "$N users at once on a slow directory: 200 or 503 each ($summary)";

relay_no_delay($relay);    # from here on the directory answers at once
my $state = ldap_server_states()->{"127.0.0.1:$RELAY"} // '(none)';
is $state, 'up', "server-status: 127.0.0.1:$RELAY up after the burst"
    or diag "error log:\n" . join("\n", grep { /PAL0401/ } split /\n/, error_log_since($mark));
my $t0 = time;
my $r = proxy_request(GET => "http://$origin/s/rg-poolwait/index.html?$last-$run",
                      'Proxy-Authorization' => basic($last, $pw{$last}));
my $dt = time - $t0;
is $r->code, 200, 'the next uncached user: 200' or diag $r->status_line;
unlike error_log_since($mark), qr/PAL0401: LDAP server 127\.0\.0\.1:$RELAY marked down/,
       'the server was never marked down';
note sprintf 'the next user was answered in %.2f s', $dt;

helper_stop($relay);
slapd_stop($slapd);
