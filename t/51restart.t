# A restarted LDAP server is back in use within about 2 s (SPEC "Details that
# users will rely on": a server marked down is retried by at most one request
# per second across all children), without restarting httpd, both when it is
# a URL's only server and when it comes after a dead one.
#
# Scopes of t/conf/regressions.conf.in, on a slapd of this file (SPARE7):
#   /s/rg-restart/   that slapd alone
#   /s/rg-restart2/  a dead port of this file (DEAD3) first, then that slapd
# Each round stops the slapd (an uncached user gets 503 and the server is
# marked down), starts it again on the same port, and polls with that user
# (a 503 is never cached) for up to 3 s.
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
my $SP = $ENV{PAL_LDAP_SPARE7_PORT} or die "PAL_LDAP_SPARE7_PORT not set (t/TEST.PL)\n";
my $WAIT = 3;     # the contract's "about 2 s", plus slack for a loaded machine

sub get {
    my ($scope, $user) = @_;
    return proxy_request(GET => "http://$origin/s/$scope/index.html",
                         'Proxy-Authorization' => basic($user, "$user-secret"));
}

my $slapd = slapd_start(ports => { ldap => $SP }, tls => 0);

for my $scope (qw(rg-restart rg-restart2)) {
    my $r = get($scope, 'alice');
    is $r->code, 200, "/s/$scope/: alice -> 200 while the server is up" or diag $r->status_line;
}

for my $round (['rg-restart', 'bob', 'its only server'],
               ['rg-restart2', 'carol', 'after a dead server']) {
    my ($scope, $user, $what) = @$round;
    slapd_stop($slapd);
    my $r = get($scope, $user);
    is $r->code, 503, "/s/$scope/: $user while the server is stopped -> 503" or diag $r->status_line;
    my $state = ldap_server_states()->{"127.0.0.1:$SP"} // '(none)';
    is $state, 'down', "server-status: 127.0.0.1:$SP down";

    slapd_restart($slapd);
    my $t0 = time;
    my (@seen, $ok);
    while (1) {
        my $p = get($scope, $user);
        my $t = time - $t0;
        if (@seen && $seen[-1][2] == $p->code) { @{ $seen[-1] }[1, 3] = ($t, $seen[-1][3] + 1) }
        else                                   { push @seen, [$t, $t, $p->code, 1] }
        if ($p->code == 200) { $ok = time - $t0; last }
        last if time - $t0 > $WAIT;
        sleep 0.1;
    }
    ok defined $ok, sprintf("/s/$scope/ ($what): $user -> 200 again %s after the restart",
                            defined $ok ? sprintf('%.1f s', $ok) : "not within $WAIT s")
        or diag 'polls after the restart: '
              . join(', ', map { sprintf '%.1f-%.1f s: %d (%d)', @$_ } @seen);
}

slapd_stop($slapd);
