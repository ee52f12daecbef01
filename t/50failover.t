# LDAP failures: failover past a dead server, the 30 s skip of a server marked
# down (shared by every child), 503 + Retry-After (never 407) when the
# directory cannot answer, the per-server timeout against a server that never
# answers, a service-bind failure as a configuration error, and recovery
# without restarting httpd after slapd was stopped or paused.
#
# Scopes: /s/failover/, /s/dead/, /s/hung/, /s/hungfail/, /s/badsvc/,
# /s/spare/ (t/conf/extra.conf.in); /s/ld-failover/, /s/ld-dead/ (a dead port
# of this file's own) and /s/ld-spare2/ (t/conf/ldap.conf.in).
# ProxyAuthLDAPTimeout is 2 s everywhere.
#
# Every request that must reach LDAP uses a user:password pair that has not
# succeeded before in that scope's cache context (ProxyAuthSessionIdle: a
# cached pair is rightly accepted while LDAP is down).
#
# The 30 s skip windows of this file overlap: the stopped server (/s/spare/)
# and the paused one (/s/ld-spare2/) are marked down a moment apart, and the
# dead and hung servers' own windows end meanwhile, so they are probed again
# right after it. The whole file takes about 38 s.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use Time::HiRes qw(time sleep);

plan tests => 55;

my $origin = origin_hostport();
my $LDAP   = $ENV{PAL_LDAP_PORT};
my $DEAD2  = $ENV{PAL_LDAP_DEAD2_PORT} or die "PAL_LDAP_DEAD2_PORT not set (t/TEST.PL)\n";
my $HUNG   = $ENV{PAL_LDAP_HUNG_PORT};
my $SPARE  = $ENV{PAL_LDAP_SPARE_PORT};
my $SPARE2 = $ENV{PAL_LDAP_SPARE2_PORT};
my $httpd_pid = main_httpd_pid();

# GET /s/SCOPE/ through the proxy -> ($response, seconds)
sub get {
    my ($scope, $user, $pw, $ua) = @_;
    my $t0 = time;
    my $url = "http://$origin/s/$scope/index.html";
    my $r = $ua ? $ua->get($url, 'Proxy-Authorization' => basic($user, $pw))
                : proxy_request(GET => $url, 'Proxy-Authorization' => basic($user, $pw));
    return ($r, time - $t0);
}

sub marked_down_re { my ($port) = @_; qr/PAL0401: LDAP server 127\.0\.0\.1:$port marked down/ }

# Error log text since $mark, once it matches $re (or after 2 s).
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

# slapd_pause sends SIGSTOP, which takes effect asynchronously: wait until
# every thread of the process is stopped (state T in /proc), up to 2 s.
sub wait_stopped {
    my ($pid) = @_;
    my $deadline = time + 2;
    while (time < $deadline) {
        my @st;
        for my $f (glob "/proc/$pid/task/*/stat") {
            open my $fh, '<', $f or next;
            push @st, (<$fh> // '') =~ /^\d+ \(.*\) (\S)/ ? $1 : '?';
        }
        return 1 if @st && !grep { $_ ne 'T' && $_ ne 't' } @st;
        sleep 0.01;
    }
    return 0;
}

sub is_503 {
    my ($r, $what) = @_;
    is $r->code, 503, "$what -> 503" or diag $r->status_line;
    ok +($r->header('Retry-After') // '') =~ /^\d+$/ && !defined $r->header('Proxy-Authenticate'),
       "$what: Retry-After, no Proxy-Authenticate"
        or diag 'Retry-After: ' . ($r->header('Retry-After') // '(none)')
              . ', Proxy-Authenticate: ' . ($r->header('Proxy-Authenticate') // '(none)');
}

# --- dead first server: failover to the fixture, dead server skipped 30 s ---
# /s/ld-failover/ and /s/ld-dead/ (t/conf/ldap.conf.in) are /s/failover/ and
# /s/dead/ with a dead port of this file's own (DEAD2): other files use
# /s/dead/, and its down-mark would hide the one this block looks for.
my $t_dead_mark;
{
    my $m = error_log_mark();
    my ($r) = get('ld-failover', 'alice', 'alice-secret');
    $t_dead_mark = time;
    is $r->code, 200, '/s/ld-failover/ (dead server first): alice -> 200 via the second server';
    like log_after($m, marked_down_re($DEAD2)), marked_down_re($DEAD2),
         'the dead server is logged as marked down (PAL0401)';

    $m = error_log_mark();
    my @codes = map { (get('ld-failover', @$_))[0]->code }
        [bob => 'bob-secret'], [carol => 'carol-secret'], ['spaced name' => 'spaced-secret'];
    is "@codes", '200 200 200', '/s/ld-failover/: further users -> 200';
    my ($rd) = get('ld-dead', 'alice', 'alice-secret');
    is_503($rd, '/s/ld-dead/ (only the dead server, marked down)');
    sleep 0.3;
    unlike error_log_since($m), marked_down_re($DEAD2),
        'within 30 s the dead server is not tried again (no new "marked down" line)';
}
# The suite's own scopes, whatever their down-mark state.
{
    my ($r) = get('failover', 'starbuser', 'starb-secret');
    is $r->code, 200, '/s/failover/ (dead server first): -> 200';
    ($r) = get('dead', 'alice', 'alice-secret');
    is_503($r, '/s/dead/ (only a dead server)');
}

# --- service bind failure: configuration error, 503, server not marked down ---
# A user name no other test sends: the pair cannot be in the credentials cache
# (this scope's cache context is the default scope's: the bind password is not
# part of it), so only LDAP could answer, and it cannot.
{
    my $m = error_log_mark();
    my ($r) = get('badsvc', "nobody-50failover-$$", 'some-password');
    is_503($r, '/s/badsvc/ (wrong service password)');
    my $log = log_after($m, qr/ProxyAuthLDAPBindPassword/);
    like $log, qr/PAL0401: .*cn=proxy-svc,dc=example,dc=test.*ProxyAuthLDAPBindDN.*ProxyAuthLDAPBindPassword/,
         'the log names the service account and ProxyAuthLDAPBindDN / ProxyAuthLDAPBindPassword';
    unlike $log, marked_down_re($LDAP), 'a failed service bind does not mark the server down';
    my ($ok) = get('plain', 'bob', 'bob-secret');
    is $ok->code, 200, 'the same server still answers the scopes with the right service password';
}

# --- hung first server: timeout, then the second server ---
my $t_hung_mark;
{
    my $m = error_log_mark();
    my ($r, $dt) = get('hungfail', 'alice', 'alice-secret');
    $t_hung_mark = time;
    is $r->code, 200, '/s/hungfail/ (hung server first): alice -> 200 via the second server';
    ok $dt < 10, sprintf('/s/hungfail/ answered in %.1f s (< 10 s)', $dt);
    like log_after($m, marked_down_re($HUNG)), marked_down_re($HUNG),
         'the hung server is logged as marked down';
}

# --- slapd of our own: stopped (/s/spare/) and paused (/s/ld-spare2/) ---
my $A = eval { slapd_start(ports => { ldap => $SPARE, ldaps => $ENV{PAL_LDAPS_SPARE_PORT} }) };
my $B = eval { slapd_start(ports => { ldap => $SPARE2, ldaps => $ENV{PAL_LDAPS_SPARE2_PORT} }) };
ok $A && $B, "own slapd instances on $SPARE and $SPARE2" or diag $@;
BAIL_OUT("no slapd") unless $A && $B;

{
    my ($r) = get('spare', 'alice', 'alice-secret');
    is $r->code, 200, '/s/spare/: alice -> 200';
}

# Paused slapd on an already pooled connection: the search never gets an answer.
my $ka = proxy_ua(keep_alive => 1);
my $t_pause_mark;
{
    my ($r) = get('ld-spare2', 'alice', 'alice-secret', $ka);
    is $r->code, 200, '/s/ld-spare2/: alice -> 200 (pooled connection in this child)';

    slapd_pause($B);
    wait_stopped($B->{pid}) or diag "slapd $B->{pid} not stopped after 2 s";
    my $m = error_log_mark();
    my ($p, $dt) = get('ld-spare2', 'bob', 'bob-secret', $ka);
    $t_pause_mark = time;
    is_503($p, 'paused slapd');
    ok $dt < 10, sprintf('paused slapd: answered in %.1f s (< 10 s, timeout 2 s)', $dt);
    # (httpd closes the connection after a 503: LWP's response counter tells
    # whether the request went over the kept one.)
    is $p->header('Client-Response-Num'), 2,
       'paused slapd: same client connection as the request that pooled it';
    like log_after($m, marked_down_re($SPARE2)), marked_down_re($SPARE2),
         'the paused server is logged as marked down';
    slapd_resume($B);
}

# Stopped slapd.
my $t_stop_mark;
{
    slapd_stop($A);
    my $m = error_log_mark();
    # Not alice: her pair is in the credentials cache (if any) since the
    # request above, and may rightly be accepted from it while LDAP is down.
    my ($r) = get('spare', 'bob', 'bob-secret');
    $t_stop_mark = time;
    is_503($r, 'stopped slapd');
    like log_after($m, marked_down_re($SPARE)), marked_down_re($SPARE),
         'the stopped server is logged as marked down';
}

# The dead and hung servers' own windows end during the wait below: each is
# probed once afterwards (it must be tried again, and fail again).
my %late;
sub late_probes {
    if (!$late{hung} && time > $t_hung_mark + 31) {
        my $m = error_log_mark();
        my ($r, $dt) = get('hung', 'alice', 'alice-secret');
        $late{hung} = { r => $r, dt => $dt, log => log_after($m, marked_down_re($HUNG)) };
    }
    if (!$late{dead} && time > $t_dead_mark + 31) {
        my $m = error_log_mark();
        my ($r) = get('ld-dead', 'alice', 'alice-secret');
        $late{dead} = { r => $r, log => log_after($m, marked_down_re($DEAD2)) };
    }
}

# Restart it with the same data; httpd keeps running. For 30 s no child
# connects to it; then requests succeed again.
{
    ok eval { slapd_restart($A); 1 }, 'slapd restarted (same data, same ports)' or diag $@;
    my $base = monitor_counts($SPARE);
    my ($r) = get('spare', 'bob', 'bob-secret');
    is $r->code, 503, 'right after the restart: still 503 (the server is skipped for 30 s)';

    my ($ok_spare, $ok_spare2, $touched, @seen);
    while (time < $t_stop_mark + 35 && !($ok_spare && $ok_spare2)) {
        sleep 1;
        if (!$ok_spare) {
            my ($s) = get('spare', 'bob', 'bob-secret');
            push @seen, sprintf('%.1f:%d', time - $t_stop_mark, $s->code);
            if ($s->code == 200) {
                $ok_spare = time;
            }
            else {
                my $c = monitor_counts($SPARE);
                $touched //= sprintf('%.1f s', time - $t_stop_mark)
                    if $c->{connections_total} > $base->{connections_total};
            }
        }
        if (!$ok_spare2) {
            my ($s) = get('ld-spare2', 'carol', 'carol-secret', $ka);
            $ok_spare2 = time if $s->code == 200;
        }
    }
    ok $ok_spare, sprintf('/s/spare/ -> 200 again %s after it was marked down, httpd not restarted',
                          $ok_spare ? sprintf('%.1f s', $ok_spare - $t_stop_mark) : 'never (35 s)')
        or diag "polls (s after the mark:status): @seen";
    ok $ok_spare && $ok_spare - $t_stop_mark >= 28,
       'it was skipped for the 30 s window (no success before 28 s)'
        or diag "polls (s after the mark:status): @seen";
    ok !$touched, 'during the window no child connected to the restarted server'
        . ($touched ? " (first connection seen at $touched)" : '');
    ok $ok_spare2, sprintf('paused slapd resumed: /s/ld-spare2/ -> 200 again %s after it was marked down',
                           $ok_spare2 ? sprintf('%.1f s', $ok_spare2 - $t_pause_mark) : 'never');
    is main_httpd_pid(), $httpd_pid, 'httpd was not restarted';
    my ($r2) = get('spare', 'carol', 'carol-secret');
    is $r2->code, 200, '/s/spare/: next user -> 200';
}

# A dead pooled connection (slapd restarted under it) is retried once on a new
# connection, without marking the server down.
{
    my $ka2 = proxy_ua(keep_alive => 1);
    my ($r) = get('spare', 'spaced name', 'spaced-secret', $ka2);
    is $r->code, 200, '/s/spare/: a pooled connection in this child';
    ok eval { slapd_restart($A); 1 }, 'slapd restarted under it' or diag $@;
    my $c0 = monitor_counts($SPARE);
    my $m = error_log_mark();
    my ($r2, $dt) = get('spare', 'colon', 'pa:ss:word', $ka2);
    my $c1 = monitor_counts($SPARE);
    is $r2->code, 200, 'next request on the dead pooled connection -> 200 (retried on a new one)';
    is $r2->header('Client-Response-Num'), 2, '... over the same client connection (same child)';
    ok $dt < 1.5, sprintf('... without waiting for a timeout (%.2f s)', $dt);
    is $c1->{search} - $c0->{search}, 1, '... one search on the restarted server';
    sleep 0.3;
    unlike error_log_since($m), marked_down_re($SPARE), '... and the server is not marked down';
}

# --- the dead and hung servers, probed after their windows (late_probes) ---
until ($late{hung} && $late{dead}) {
    late_probes();
    sleep 0.2;
}
{
    my ($r, $dt) = @{ $late{hung} }{qw(r dt)};
    is_503($r, '/s/hung/ (only the hung server)');
    ok $dt < 10, sprintf('/s/hung/ answered in %.1f s (< 10 s, timeout 2 s)', $dt);
    ok $dt >= 1.5, sprintf('/s/hung/ waited for the server (%.1f s): it was tried again after its window', $dt);
    like $late{hung}{log}, marked_down_re($HUNG), 'the hung server is marked down again';
}
{
    is_503($late{dead}{r}, '/s/ld-dead/ (refused connection)');
    like $late{dead}{log}, marked_down_re($DEAD2),
         'the dead server is tried again after its window and marked down again';
    my ($f) = get('ld-failover', 'starbuser', 'starb-secret');
    is $f->code, 200, '/s/ld-failover/ -> 200';
}

# The hung server is marked down again: /s/hungfail/ goes straight to the
# second server, without waiting for the hung one.
{
    my ($r, $dt) = get('hungfail', 'carol', 'carol-secret');
    is $r->code, 200, '/s/hungfail/ with the hung server marked down -> 200';
    ok $dt < 1.5, sprintf('... without waiting for the hung server (%.2f s)', $dt);
}

# Every request of this file is in the access log with its result note.
{
    my $log = Apache::Test::vars()->{t_logs} . '/pal_access_log';
    open my $fh, '<', $log or die "$log: $!";
    my @lines = grep { m{/s/(?:spare|ld-spare2|ld-dead|dead|hung|badsvc)/} && / 503 / } <$fh>;
    my @bad = grep { !/ unavailable / } @lines;
    ok @lines && !@bad, 'every 503 is logged with proxyauth-result "unavailable"'
        or diag @bad;
}

slapd_stop($_) for $A, $B;
