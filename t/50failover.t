# LDAP failures: failover past a dead server, a server marked down (shared by
# every child) skipped but retried by one request a second, 503 + Retry-After
# (never 407) when the directory cannot answer, the per-server timeout
# against a server that never answers, a service-bind failure as a
# configuration error, and recovery within about 2 s, without restarting
# httpd, after slapd was stopped or paused.
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
# A server marked down logs "marked down" once, then "still down" (info) for
# each failed retry, then "is back in use": the retries are counted from
# those lines.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use Time::HiRes qw(time sleep);

plan tests => 58;

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
sub still_down_re { my ($port) = @_; qr/PAL0401: LDAP server 127\.0\.0\.1:$port still down/ }

# Requests to /s/SCOPE/ for $secs seconds, one every 0.1 s, with users no
# cache holds: (number of requests, their status codes counted, seconds
# taken, the longest answer).
sub hammer {
    my ($scope, $secs) = @_;
    my ($n, %codes, $max) = (0);
    $max = 0;
    my $t0 = time;
    while (time - $t0 < $secs) {
        my ($r, $dt) = get($scope, "hammer-$n-$$", 'no-such-secret');
        $codes{$r->code}++;
        $max = $dt if $dt > $max;
        $n++;
        sleep 0.1;
    }
    return ($n, \%codes, time - $t0, $max);
}

# Lines of $re in the error log since $mark.
sub count_lines {
    my ($mark, $re) = @_;
    my $n = () = error_log_since($mark) =~ /$re/g;
    return $n;
}

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

# --- dead first server: failover to the fixture, dead server skipped ---
# /s/ld-failover/ and /s/ld-dead/ (t/conf/ldap.conf.in) are /s/failover/ and
# /s/dead/ with a dead port of this file's own (DEAD2): other files use
# /s/dead/, and its down-mark would hide the one this block looks for.

{
    my $m = error_log_mark();
    my ($r) = get('ld-failover', 'alice', 'alice-secret');

    is $r->code, 200, '/s/ld-failover/ (dead server first): alice -> 200 via the second server';
    like log_after($m, marked_down_re($DEAD2)), marked_down_re($DEAD2),
         'the dead server is logged as marked down (PAL0401)';

    $m = error_log_mark();
    my @codes = map { (get('ld-failover', @$_))[0]->code }
        [bob => 'bob-secret'], [carol => 'carol-secret'], ['spaced name' => 'spaced-secret'];
    is "@codes", '200 200 200', '/s/ld-failover/: further users -> 200';
    my ($rd) = get('ld-dead', 'alice', 'alice-secret');
    is_503($rd, '/s/ld-dead/ (only the dead server, marked down)');

    # Requests that do not win the retry of the second are answered at once.
    $m = error_log_mark();
    my ($n, $codes, $secs, $max) = hammer('ld-dead', 2.5);
    sleep 0.3;
    my $retries = count_lines($m, still_down_re($DEAD2));
    is join(',', keys %$codes), '503', sprintf('/s/ld-dead/: %d requests in %.1f s: all 503', $n, $secs);
    ok $max < 1, sprintf('... each answered at once (longest %.2f s)', $max);
    ok $retries >= 1 && $retries <= int($secs) + 1,
       "... the dead server was retried $retries time(s): about once a second, not once a request";
    unlike error_log_since($m), marked_down_re($DEAD2),
        '... and "marked down" is not logged again while it stays down';
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

{
    my $m = error_log_mark();
    my ($r, $dt) = get('hungfail', 'alice', 'alice-secret');

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

{
    slapd_stop($A);
    my $m = error_log_mark();
    # Not alice: her pair is in the credentials cache (if any) since the
    # request above, and may rightly be accepted from it while LDAP is down.
    my ($r) = get('spare', 'bob', 'bob-secret');

    is_503($r, 'stopped slapd');
    like log_after($m, marked_down_re($SPARE)), marked_down_re($SPARE),
         'the stopped server is logged as marked down';
}

# While it is down, requests are answered 503 at once, and one of them a
# second retries the server. Restarted with the same data, it is back in use
# within about 2 s; httpd keeps running.
{
    my $m = error_log_mark();
    my ($n, $codes, $secs, $max) = hammer('spare', 2.5);
    sleep 0.3;
    my $retries = count_lines($m, still_down_re($SPARE));
    is join(',', keys %$codes), '503', "stopped slapd: $n requests in 2.5 s: all 503";
    ok $retries >= 1 && $retries <= int($secs) + 1,
       "... the stopped server was retried $retries time(s): about once a second";

    ok eval { slapd_restart($A); 1 }, 'slapd restarted (same data, same ports)' or diag $@;
    my $t_up = time;
    my ($ok_spare, $ok_spare2, @seen);
    $m = error_log_mark();
    while (time < $t_up + 5 && !($ok_spare && $ok_spare2)) {
        if (!$ok_spare) {
            my ($s) = get('spare', 'bob', 'bob-secret');
            push @seen, sprintf('%.1f:%d', time - $t_up, $s->code);
            $ok_spare = time if $s->code == 200;
        }
        if (!$ok_spare2) {
            my ($s) = get('ld-spare2', 'carol', 'carol-secret', $ka);
            $ok_spare2 = time if $s->code == 200;
        }
        sleep 0.1;
    }
    ok $ok_spare && $ok_spare - $t_up <= 2.5,
       sprintf('/s/spare/ -> 200 again %s after the restart (about 2 s at most)',
               $ok_spare ? sprintf('%.1f s', $ok_spare - $t_up) : 'never (5 s)')
        or diag "polls (s after the restart:status): @seen";
    like log_after($m, qr/PAL0401: LDAP server 127\.0\.0\.1:$SPARE is back in use/),
         qr/PAL0401: LDAP server 127\.0\.0\.1:$SPARE is back in use/,
         'the log says it is back in use';
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

# --- the dead and hung servers, retried since they were marked down ---
# More than a second after its last retry, one request retries the hung
# server: it waits for the timeout, and the server stays down.
{
    sleep 1.2;
    my $m = error_log_mark();
    my ($r, $dt) = get('hung', 'alice', 'alice-secret');
    is_503($r, '/s/hung/ (only the hung server)');
    ok $dt < 10, sprintf('/s/hung/ answered in %.1f s (< 10 s, timeout 2 s)', $dt);
    ok $dt >= 1.5, sprintf('/s/hung/ waited for the server (%.1f s): it was retried', $dt);
    like log_after($m, still_down_re($HUNG)), still_down_re($HUNG), 'the hung server is still down';

    # Right after that retry, /s/hungfail/ goes straight to the second
    # server, without waiting for the hung one.
    my ($f, $df) = get('hungfail', 'carol', 'carol-secret');
    is $f->code, 200, '/s/hungfail/ with the hung server marked down -> 200';
    ok $df < 1.5, sprintf('... without waiting for the hung server (%.2f s)', $df);
}
{
    sleep 1.2;
    my $m = error_log_mark();
    my ($r) = get('ld-dead', 'alice', 'alice-secret');
    is_503($r, '/s/ld-dead/ (refused connection)');
    like log_after($m, still_down_re($DEAD2)), still_down_re($DEAD2),
         'the dead server is retried and still down';
    my ($f) = get('ld-failover', 'starbuser', 'starb-secret');
    is $f->code, 200, '/s/ld-failover/ -> 200';
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
