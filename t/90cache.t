# The credential cache (SPEC "Cache", the rows ProxyAuthSessionIdle,
# ProxyAuthSessionMax, ProxyAuthNegativeTTL, ProxyAuthMaxBadPasswords and
# ProxyAuthConnectionAuth, "Details": ConnectionAuth), proven with the
# directory's own cn=Monitor counters: "no LDAP operation" means the Bind and
# Search counts of slapd did not move.
#
# Scopes: t/conf/session_cache.conf.in (/s/ca-NAME/, each with a realm of its
# own, i.e. a cache context no other test file touches). Most of them use a
# slapd that this file starts on PAL_LDAP_SPARE5_PORT (t/TEST.PL; no other
# file uses it) with the "stats" log level, so user binds can also be told
# apart from service binds by DN; /s/ca-grace/ uses the fixture slapd.
#
# Order: 1 hits, 2 windows (one ~5.5 s timeline), 3 negative cache, 4 soft
# lock, 5 concurrent first requests, 7 ConnectionAuth, 9 mod_status, then 6
# directory down (stops this file's slapd), 8 graceful restart (last: it
# replaces every child).
#
# Counting binds exactly: a pool slot's first use binds as the service account
# (SPEC: once per pooled connection). Before a count that must be exact, warm()
# sends a request with an unknown user on the same keep-alive connection: its
# child then holds a pooled connection already bound as the service account,
# so the Bind operations counted next are user binds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use HTTP::Request;
use IO::Select;
use IO::Socket::INET;
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

plan tests => 125;

my $origin = origin_hostport();
my $proxy  = proxy_hostport();
my $logs   = Apache::Test::vars('t_logs');
my $access_log = "$logs/pal_access_log";
my $pid_log    = "$logs/cache_pid_log";
my $run = "$$-" . int(time);
my $seq = 0;
my $SP  = $ENV{PAL_LDAP_SPARE5_PORT} or die "PAL_LDAP_SPARE5_PORT not set (t/TEST.PL)\n";
my $FIX = $ENV{PAL_LDAP_PORT};          # the fixture slapd
my $OU  = 'ou=ca-cache,dc=example,dc=test';
my $ALICE_DN = 'uid=alice,ou=people,dc=example,dc=test';

# ---------------------------------------------------------------------------
# Helpers

sub url {
    my ($scope) = @_;
    my $tag = 'ca' . ++$seq . "-$run";
    return ("http://$origin/s/$scope/index.html?$tag", $tag);
}

# req($ua, $scope, $cred): GET through the proxy on $ua (its connection when
# it keeps one). $cred: [user, password], a raw Proxy-Authorization value, or
# undef for none.
sub req {
    my ($ua, $scope, $cred) = @_;
    my ($u) = url($scope);
    my @h;
    push @h, 'Proxy-Authorization' => (ref $cred ? basic(@$cred) : $cred) if defined $cred;
    return $ua->request(HTTP::Request->new(GET => $u, \@h));
}

sub tag_of { my ($r) = @_; return $r->request ? $r->request->uri->query // '' : '' }

# The proxy's access-log line of a response: [host, user, status, request, result, dn]
sub entry {
    my ($r) = @_;
    my $tag = tag_of($r);
    my $deadline = time + 3;
    while (1) {
        if (open my $fh, '<', $access_log) {
            while (my $l = <$fh>) {
                next unless index($l, "?$tag ") >= 0 && index($l, '"GET http://') >= 0;
                chomp $l;
                return [$1, $2, $3, $4, $5, $6]
                    if $l =~ /^(\S+) (\S+) (\d{3}) "(.*)" (\S+) "(.*)"$/;
                return [$l];
            }
        }
        return [] if time > $deadline;
        sleep 0.05;
    }
}

# The cache_pid_log line of a tag: [pid, status, result, user]
sub pid_entry {
    my ($tag) = @_;
    my $deadline = time + 3;
    while (1) {
        if (open my $fh, '<', $pid_log) {
            while (my $l = <$fh>) {
                next unless index($l, "?$tag ") >= 0 && index($l, '"GET http://') >= 0;
                return [$1, $2, $3, $4] if $l =~ /^(\d+) (\d{3}) (\S+) (\S+) "/;
            }
        }
        return [] if time > $deadline;
        sleep 0.05;
    }
}

# Bind / Search operations a slapd completed while $code ran.
sub ops {
    my ($port, $code) = @_;
    my $a = monitor_counts($port);
    my @ret = $code->();
    my $b = monitor_counts($port);
    return ({ bind => $b->{bind} - $a->{bind}, search => $b->{search} - $a->{search} }, @ret);
}

# See the header: a directory search by the child that serves $ua's connection.
sub warm {
    my ($ua, $scope) = @_;
    my $r = req($ua, $scope, ["ca-nobody-$run-" . ++$seq, 'warm-up']);
    diag "warm-up request on /s/$scope/: got " . $r->status_line unless $r->code == 407;
    return $r;
}

sub slurp_from {
    my ($file, $off) = @_;
    open my $fh, '<', $file or return '';
    seek $fh, $off, 0;
    local $/;
    return scalar(<$fh>) // '';
}

sub sleep_until {
    my ($t) = @_;
    my $d = $t - time;
    sleep $d if $d > 0;
}

sub pa { my ($r) = @_; my @v = $r->header('Proxy-Authenticate'); return @v }

sub desc {
    my ($r) = @_;
    my $e = entry($r);
    return $r->status_line . ', access log: ' . (@$e ? join(' ', map { $_ // '' } @$e) : '(none)');
}

sub is_200 {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return ok($r->code == 200 && $r->content =~ /origin-ok/, "$name: 200")
        || diag 'got ' . desc($r);
}

sub is_407 {
    my ($r, $realm, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @v = pa($r);
    return ok($r->code == 407 && @v == 1 && $v[0] eq qq{Basic realm="$realm", charset="UTF-8"},
              "$name: 407 + Proxy-Authenticate realm \"$realm\"")
        || diag 'got ' . desc($r) . '; Proxy-Authenticate: ' . join(' | ', @v);
}

# The access log's result note and user (%u) of a response.
sub is_note {
    my ($r, $result, $user, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $e = entry($r);
    return is_deeply([$e->[4], $e->[1]], [$result, $user],
                     "$name: access log note \"$result\", user $user")
        || diag 'access log line: ' . (@$e ? join(' ', map { $_ // '' } @$e) : '(none)');
}

sub is_ops {
    my ($d, $bind, $search, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return is_deeply([$d->{bind}, $d->{search}], [$bind, $search],
                     "$name: $bind bind(s) and $search search(es) in cn=Monitor");
}

sub is_binds {
    my ($d, $bind, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return is($d->{bind}, $bind, "$name: $bind bind(s) in cn=Monitor")
        || diag "searches: $d->{search}";
}

# server-status?auto of the proxy, asked directly: (response, {key => value},
# [ProxyAuthLDAPServer values])
sub status {
    my $ua = LWP::UserAgent->new(timeout => 10, keep_alive => 0);
    $ua->no_proxy;
    my $r = $ua->get("http://$proxy/server-status?auto");
    my (%v, @servers);
    for (split /\n/, $r->decoded_content // '') {
        next unless /^([^:]+):\s*(.*?)\s*$/;
        if ($1 eq 'ProxyAuthLDAPServer') { push @servers, $2 } else { $v{$1} = $2 }
    }
    return ($r, \%v, \@servers);
}

# Pids of the direct children of $pid.
sub children_of {
    my ($pid) = @_;
    my @c;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $l = <$fh> // next;
        push @c, $1 if $l =~ /^(\d+) \(.*\) \S+ (\d+)/ && $2 == $pid;
    }
    return @c;
}

# ---------------------------------------------------------------------------
# This file's slapd.

my $slapd;
{
    $slapd = slapd_start(ports => { ldap => $SP, ldaps => $ENV{PAL_LDAPS_SPARE5_PORT} },
                         loglevel => 'stats');
    my $l = ldap_admin($SP);
    my @err;
    for my $e (
        [$OU, objectClass => 'organizationalUnit', ou => 'ca-cache'],
        # two valid passwords (slapd accepts any userPassword value)
        ["uid=ca-two,$OU", objectClass => 'inetOrgPerson', uid => 'ca-two', cn => 'ca two',
         sn => 'two', userPassword => ['two-a-secret', 'two-b-secret']],
        ["uid=ca-lock,$OU", objectClass => 'inetOrgPerson', uid => 'ca-lock', cn => 'ca lock',
         sn => 'lock', userPassword => ['lock-1-secret', 'lock-2-secret']],
        ["uid=ca-flight,$OU", objectClass => 'inetOrgPerson', uid => 'ca-flight',
         cn => 'ca flight', sn => 'flight', userPassword => 'flight-secret'],
    ) {
        my ($dn, @attrs) = @$e;
        my $m = $l->add($dn, attrs => \@attrs);
        push @err, "$dn: " . $m->error if $m->code;
    }
    $l->unbind;
    ok !@err, "own slapd on 127.0.0.1:$SP with the test entries" or diag join "\n", @err;
}

# ---------------------------------------------------------------------------
# 1. A cached pair needs no LDAP; another password of the same user is still
#    checked (it may be the right one). /s/ca-hit/, default windows.

{
    my $ua = proxy_ua(keep_alive => 1);
    warm($ua, 'ca-hit');
    my ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['alice', 'alice-secret']) });
    is_200($r, 'ca-hit alice, first request');
    is_note($r, 'ldap', 'alice', 'ca-hit alice, first request');
    is_ops($d, 1, 1, 'ca-hit alice, first request: search + user bind');
    is entry($r)->[5], $ALICE_DN, 'ca-hit alice: DN in the access log';

    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['alice', 'alice-secret']) });
    is_200($r, 'ca-hit alice, second request');
    is_note($r, 'cache', 'alice', 'ca-hit alice, second request');
    is_ops($d, 0, 0, 'ca-hit alice, second request');
    is entry($r)->[5], $ALICE_DN, 'ca-hit alice from the cache: DN in the access log';

    # a user with two valid passwords
    warm($ua, 'ca-hit');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['ca-two', 'two-a-secret']) });
    is_200($r, 'ca-hit ca-two password A, first request');
    is_note($r, 'ldap', 'ca-two', 'ca-hit ca-two password A, first request');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['ca-two', 'two-a-secret']) });
    is_note($r, 'cache', 'ca-two', 'ca-hit ca-two password A again');
    is_ops($d, 0, 0, 'ca-hit ca-two password A again');

    warm($ua, 'ca-hit');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['ca-two', 'two-b-secret']) });
    is_200($r, 'ca-hit ca-two password B (another right password, user cached with A)');
    is_note($r, 'ldap', 'ca-two', 'ca-hit ca-two password B');
    is_binds($d, 1, 'ca-hit ca-two password B: checked by LDAP');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['ca-two', 'two-b-secret']) });
    is_note($r, 'cache', 'ca-two', 'ca-hit ca-two password B again');
    is_ops($d, 0, 0, 'ca-hit ca-two password B again');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['ca-two', 'two-a-secret']) });
    is_note($r, 'cache', 'ca-two', 'ca-hit ca-two password A still cached');
    is_ops($d, 0, 0, 'ca-hit ca-two password A still cached');

    # a wrong password of a cached user: checked, refused, and the cached
    # pair stays usable
    warm($ua, 'ca-hit');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['alice', "alice-wrong-$run"]) });
    is_407($r, 'ca-hit', 'ca-hit alice, wrong password while alice-secret is cached');
    is_note($r, 'denied', '-', 'ca-hit alice, wrong password');
    is_binds($d, 1, 'ca-hit alice, wrong password: checked by LDAP');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['alice', 'alice-secret']) });
    is_note($r, 'cache', 'alice', 'ca-hit alice-secret after a wrong password');
    is_ops($d, 0, 0, 'ca-hit alice-secret after a wrong password');
}

# ---------------------------------------------------------------------------
# 2. Windows, on one timeline of ~5.5 s (times relative to each pair's first
#    request). /s/ca-win/ has SessionIdle 2, SessionMax 5, NegativeTTL 3.
#  - alice is validated and left unused: at 2.7 s (> idle, < max) LDAP is
#    asked again.
#  - bob is used every 0.6 s (last-use is rewritten at most once a second, so
#    it is never more than ~1.2 s old): every request up to 4.2 s comes from
#    the cache (a sliding window well past the idle time); at 5.2 s, 1.6 s
#    after the last rewrite, LDAP is asked again (SessionMax).
#  - carol's wrong password is retried every 0.9 s: each retry within 3 s of
#    the previous renews the negative entry, up to 4.5 s all are answered from
#    it; at 5.3 s (0.8 s after the last retry, but 5.3 s after the first
#    failure) it reaches LDAP again: "up to ProxyAuthSessionMax from the
#    first failure".
#  - /s/ca-connmax/ (ConnectionAuth On, SessionMax 3): a connection's identity
#    is used at 1 s, and no more at 3.4 s.

{
    my $ua  = proxy_ua(keep_alive => 1);
    my $uac = proxy_ua(keep_alive => 1);
    my $wrong = ['carol', "carol-wrong-$run"];
    my (%at, %res, @bob, @carol);
    my @events = (
        [0.00, sub { $res{alice0} = req($ua, 'ca-win', ['alice', 'alice-secret']); $at{ta} = time }],
        [0.05, sub { $at{s0} = time; $res{bob0} = req($ua, 'ca-win', ['bob', 'bob-secret']);
                     $at{r0} = time }],
        [0.10, sub { @{ $res{carol0} } = ops($SP, sub { $at{c0} = time; my $x = req($ua, 'ca-win', $wrong);
                                                          $at{c1} = time; $x }) }],
        [0.15, sub { $at{m0} = time; $res{conn0} = req($uac, 'ca-connmax', ['alice', 'alice-secret']);
                     $at{m1} = time }],
        (map { my $k = $_;
               [0.05 + 0.6 * $k, sub { sleep_until($at{s0} + 0.6 * $k);
                   my $t = time - $at{s0};
                   push @bob, [$t, ops($SP, sub { req($ua, 'ca-win', ['bob', 'bob-secret']) })] }]
             } 1 .. 7),
        (map { my $k = $_;
               [0.10 + 0.9 * $k, sub { sleep_until($at{c0} + 0.9 * $k);
                   my $t = time - $at{c0};
                   push @carol, [$t, ops($SP, sub { req($ua, 'ca-win', $wrong) })] }]
             } 1 .. 5),
        [1.15, sub { sleep_until($at{m0} + 1.0); $res{conn1} = req($uac, 'ca-connmax', undef) }],
        [2.70, sub { sleep_until($at{ta} + 2.7); warm($ua, 'ca-win');
                     @{ $res{alice1} } = ops($SP, sub { req($ua, 'ca-win', ['alice', 'alice-secret']) }) }],
        [3.55, sub { sleep_until($at{m1} + 3.4); $res{conn2} = req($uac, 'ca-connmax', undef) }],
        [5.25, sub { sleep_until($at{r0} + 5.2); warm($ua, 'ca-win');
                     @{ $res{bob1} } = ops($SP, sub { req($ua, 'ca-win', ['bob', 'bob-secret']) }) }],
        [5.45, sub { sleep_until($at{c1} + 5.3); warm($ua, 'ca-win');
                     @{ $res{carol1} } = ops($SP, sub { req($ua, 'ca-win', $wrong) }) }],
    );
    # Both connections are open, and have forwarded a request to the origin
    # (served by this httpd too), before the clock starts: under prefork a
    # request that needs one more child waits up to ~1 s for it to be spawned.
    warm($ua, 'ca-win');
    my @pre = (req($ua, 'ca-win', ['ca-two', 'two-a-secret']),
               req($uac, 'ca-connmax', ['ca-two', 'two-a-secret']));
    diag 'warm-up with ca-two: ' . join(', ', map { $_->status_line } @pre)
        if grep { $_->code != 200 } @pre;
    my $T = time;
    my @late;
    for my $ev (sort { $a->[0] <=> $b->[0] } @events) {
        sleep_until($T + $ev->[0]);
        my $t = time - $T;
        push @late, sprintf('event planned at +%.2f s started at +%.2f s', $ev->[0], $t)
            if $t > $ev->[0] + 0.3;
        $ev->[1]->();
    }
    diag "timeline of the windows test ran late:\n" . join("\n", @late) if @late;

    is_note($res{alice0}, 'ldap', 'alice', 'ca-win alice validated');
    is_note($res{bob0}, 'ldap', 'bob', 'ca-win bob validated');

    my ($d, $r) = @{ $res{alice1} };
    is_200($r, 'ca-win alice after 2.7 s unused (SessionIdle 2)');
    is_note($r, 'ldap', 'alice', 'ca-win alice after SessionIdle');
    is_binds($d, 1, 'ca-win alice after SessionIdle: validated again');

    my @bad = map { sprintf '+%.2f s: %s, %d bind(s), %d search(es)', $_->[0], desc($_->[2]),
                            $_->[1]{bind}, $_->[1]{search} }
              grep { !($_->[2]->code == 200 && (entry($_->[2])->[4] // '') eq 'cache'
                       && !$_->[1]{bind} && !$_->[1]{search}) } @bob;
    ok !@bad, 'ca-win bob used every 0.6 s up to 4.2 s (SessionIdle 2): every request '
            . 'from the cache, no LDAP operation' or diag join "\n", @bad;
    ($d, $r) = @{ $res{bob1} };
    is_200($r, 'ca-win bob kept busy, 5.2 s after validation (SessionMax 5)');
    is_note($r, 'ldap', 'bob', 'ca-win bob after SessionMax');
    is_binds($d, 1, 'ca-win bob after SessionMax: validated again');

    ($d, $r) = @{ $res{carol0} };
    is_407($r, 'ca-win', 'ca-win carol wrong password');
    is_binds($d, 1, 'ca-win carol wrong password: checked by LDAP');
    @bad = map { sprintf '+%.2f s: %s, %d bind(s), %d search(es)', $_->[0], desc($_->[2]),
                         $_->[1]{bind}, $_->[1]{search} }
           grep { !($_->[2]->code == 407 && (entry($_->[2])->[4] // '') eq 'negative'
                    && !$_->[1]{bind} && !$_->[1]{search}) } @carol;
    ok !@bad, 'ca-win carol retried every 0.9 s up to 4.5 s (NegativeTTL 3): 407 from the '
            . 'negative cache, no LDAP operation' or diag join "\n", @bad;
    ($d, $r) = @{ $res{carol1} };
    is_407($r, 'ca-win', 'ca-win carol 5.3 s after the first failure');
    is_note($r, 'denied', '-', 'ca-win carol 5.3 s after the first failure (SessionMax 5)');
    is_binds($d, 1, 'ca-win carol past SessionMax from the first failure: reaches LDAP again');

    is_note($res{conn0}, 'ldap', 'alice', 'ca-connmax alice with credentials');
    is_note($res{conn1}, 'connection', 'alice', 'ca-connmax no credentials 1 s later, same connection');
    is_407($res{conn2}, 'ca-connmax', 'ca-connmax no credentials 3.4 s later (SessionMax 3)')
        or diag sprintf 'the first ca-connmax request took %.2f s', $at{m1} - $at{m0};
    is $res{conn2}->header('Client-Response-Num'), 4, 'ca-connmax: one connection';
}

# ---------------------------------------------------------------------------
# 3. Negative cache: /s/ca-neg/ has NegativeTTL 3. The same wrong password 5
#    times over 3.6 s (each retry within 3 s of the previous one renews the
#    entry, so the last is past 3 s from the first failure) costs one bind;
#    after 3.5 s of silence it reaches LDAP again.

{
    my $ua = proxy_ua(keep_alive => 1);
    # Not ca-win's wrong password: the soft lock knows that one as wrong
    # for carol's account (same directory), and would refuse it unbound.
    my $wrong = ['carol', "carol-wrong-neg-$run"];
    warm($ua, 'ca-neg');
    my @r;
    my $t0 = time;
    my ($d) = ops($SP, sub {
        push @r, req($ua, 'ca-neg', $wrong);
        for my $k (1 .. 4) {
            sleep_until($t0 + 0.9 * $k);
            push @r, req($ua, 'ca-neg', $wrong);
        }
        return;
    });
    my $last = time;
    is_407($r[0], 'ca-neg', 'ca-neg carol wrong password, first time');
    is_note($r[0], 'denied', '-', 'ca-neg carol wrong password, first time');
    my @bad;
    for my $i (1 .. $#r) {
        my $e = entry($r[$i]);
        my @v = pa($r[$i]);
        push @bad, "retry $i: " . desc($r[$i])
            unless $r[$i]->code == 407 && ($e->[4] // '') eq 'negative'
                && @v == 1 && $v[0] eq 'Basic realm="ca-neg", charset="UTF-8"';
    }
    ok !@bad, 'ca-neg carol: 4 retries over 3.6 s: 407 + Proxy-Authenticate, note "negative"'
        or diag join "\n", @bad;
    is_ops($d, 1, 1, 'ca-neg carol: the wrong password 5 times in 3.6 s');

    # the right password is not held up by a wrong one's negative entry
    warm($ua, 'ca-neg');
    my $r;
    ($d, $r) = ops($SP, sub { req($ua, 'ca-neg', ['carol', 'carol-secret']) });
    is_200($r, 'ca-neg carol right password while the wrong one is cached negatively');
    is_note($r, 'ldap', 'carol', 'ca-neg carol right password');

    sleep_until($last + 3.5);
    warm($ua, 'ca-neg');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-neg', $wrong) });
    is_407($r, 'ca-neg', 'ca-neg carol wrong password after 3.5 s of silence');
    is_note($r, 'denied', '-', 'ca-neg carol wrong password after NegativeTTL');
    is_binds($d, 1, 'ca-neg carol wrong password after NegativeTTL: reaches LDAP again');
}

# ---------------------------------------------------------------------------
# 4. Soft lock: /s/ca-lock/ has MaxBadPasswords 2, NegativeTTL 3. ca-lock has
#    two valid passwords: lock-1 is validated (cached) first, lock-2 is a right
#    password the cache does not know.

{
    my $ua = proxy_ua(keep_alive => 1);
    warm($ua, 'ca-lock');
    my ($d, $r) = ops($SP, sub { req($ua, 'ca-lock', ['ca-lock', 'lock-1-secret']) });
    is_200($r, 'ca-lock lock-1 validated');
    is_note($r, 'ldap', 'ca-lock', 'ca-lock lock-1 validated');

    for my $w (qw(a b)) {
        ($d, $r) = ops($SP, sub { req($ua, 'ca-lock', ['ca-lock', "wrong-$w-$run"]) });
        is_407($r, 'ca-lock', "ca-lock wrong password $w");
        is_binds($d, 1, "ca-lock wrong password $w: reaches LDAP");
    }
    my $mark = error_log_mark();
    ($d, $r) = ops($SP, sub { req($ua, 'ca-lock', ['ca-lock', "wrong-c-$run"]) });
    is_407($r, 'ca-lock', 'ca-lock 3rd distinct wrong password (MaxBadPasswords 2)');
    is_ops($d, 0, 0, 'ca-lock 3rd distinct wrong password: soft lock');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-lock', ['ca-lock', 'lock-2-secret']) });
    is_407($r, 'ca-lock', 'ca-lock right password unknown to the cache, during the soft lock');
    is_ops($d, 0, 0, 'ca-lock right uncached password during the soft lock');
    sleep 0.2;
    my @lines = grep { /ca-lock/ && /MaxBadPasswords|too many wrong passwords|soft.?lock/i }
                split /\n/, error_log_since($mark);
    ok scalar(@lines), 'ca-lock: the soft lock is logged' or diag error_log_since($mark);
    ($d, $r) = ops($SP, sub { req($ua, 'ca-lock', ['ca-lock', 'lock-1-secret']) });
    is_200($r, 'ca-lock cached pair (lock-1) during the soft lock');
    is_note($r, 'cache', 'ca-lock', 'ca-lock cached pair during the soft lock');
    is_ops($d, 0, 0, 'ca-lock cached pair during the soft lock');

    my $last = time;
    sleep_until($last + 3.5);
    warm($ua, 'ca-lock');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-lock', ['ca-lock', 'lock-2-secret']) });
    is_200($r, 'ca-lock lock-2 after 3.5 s without wrong passwords (NegativeTTL 3)');
    is_note($r, 'ldap', 'ca-lock', 'ca-lock lock-2 after the soft lock');
    is_binds($d, 1, 'ca-lock lock-2 after the soft lock: validated by LDAP');
}

# ---------------------------------------------------------------------------
# 5. 20 concurrent first requests for one pair (/s/ca-flight/, user
#    ca-flight): connections opened first, then the 20 requests written at
#    once. Each child process that answered from LDAP (not from the cache)
#    must have asked LDAP exactly once: user binds (slapd's stats log, by DN)
#    = number of distinct children whose answer was "ldap".

{
    my $N = 20;
    my $DN = "uid=ca-flight,$OU";
    my $log_off = -s $slapd->{log} || 0;
    my $before = monitor_counts($SP);
    my ($pport) = $proxy =~ /:(\d+)$/;
    my (@socks, @tags, @req);
    my $auth = basic('ca-flight', 'flight-secret');
    for (1 .. $N) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $pport,
                                      Proto => 'tcp', Timeout => 10)
            or die "connect to the proxy: $!";
        push @socks, $s;
        my ($u, $tag) = url('ca-flight');
        push @tags, $tag;
        push @req, "GET $u HTTP/1.1\r\nHost: $origin\r\nProxy-Authorization: $auth\r\n"
                 . "Connection: close\r\n\r\n";
    }
    syswrite $socks[$_], $req[$_] for 0 .. $N - 1;
    my %idx = map { (fileno($socks[$_]) => $_) } 0 .. $N - 1;
    my @buf = ('') x $N;
    my $sel = IO::Select->new(@socks);
    my $deadline = time + 20;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.5)) {
            my $i = $idx{fileno $s};
            my $n = sysread $s, my $chunk, 65536;
            if ($n) { $buf[$i] .= $chunk }
            else    { $sel->remove($s); close $s }
        }
    }
    close $_ for @socks;
    my @codes = map { /^HTTP\/1\.\d (\d{3})/ ? $1 : 'none' } @buf;
    is_deeply [grep { $_ ne '200' } @codes], [], "ca-flight: $N concurrent first requests: all 200"
        or diag "status codes: @codes";

    sleep 0.3;
    my $after = monitor_counts($SP);
    my $slog = slurp_from($slapd->{log}, $log_off);
    my @binds = $slog =~ /^.* BIND dn="([^"]*)" method=/mg;
    my @user_conns = map { $_->[0] } grep { lc($_->[1]) eq lc($DN) }
                     map { [/conn=(\d+) op=\d+ BIND dn="([^"]*)" method=/] }
                     grep { / BIND dn="[^"]*" method=/ } split /\n/, $slog;
    my $user_binds = @user_conns;
    is scalar(@binds), $after->{bind} - $before->{bind},
       'ca-flight: binds in slapd\'s stats log = cn=Monitor bind count';

    my @e = map { pid_entry($_) } @tags;
    my @missing = grep { !@{ $e[$_] } || $e[$_][2] !~ /^(?:ldap|cache)$/ || $e[$_][3] ne 'ca-flight' }
                  0 .. $N - 1;
    ok !@missing, 'ca-flight: every request logged (pid log) as ca-flight, note ldap or cache'
        or diag join "\n", map { "$tags[$_]: " . join(' ', @{ $e[$_] }) } @missing;
    my (%ldap_pid, %all_pid);
    for (grep { @$_ } @e) {
        $all_pid{ $_->[0] }++;
        $ldap_pid{ $_->[0] }++ if $_->[2] eq 'ldap';
    }
    my $summary = sprintf 'MPM %s: %d requests served by %d child(ren) (%s); answered "ldap" in %d '
                        . 'child(ren) (%s), "cache" otherwise; user binds %d; all binds %d',
                  $ENV{PAL_MPM} // '?', $N, scalar(keys %all_pid),
                  join(',', map { "$_:$all_pid{$_}" } sort keys %all_pid),
                  scalar(keys %ldap_pid),
                  join(',', map { "$_:$ldap_pid{$_}" } sort keys %ldap_pid),
                  $user_binds, scalar(@binds);
    # Which child made each user bind: slapd's connection -> the client port of
    # its ACCEPT line -> the httpd process holding that pooled connection (ss).
    {
        my %conn_port = slurp_from($slapd->{log}, 0)
                        =~ /conn=(\d+) fd=\d+ ACCEPT from IP=127\.0\.0\.1:(\d+)/g;
        my %port_pid;
        for (`ss -tnpH 2>/dev/null`) {
            $port_pid{$1} = $2 if /127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:$SP\s.*pid=(\d+)/;
        }
        my %by;
        $by{ $port_pid{ $conn_port{$_} // '' } // "slapd-conn$_" }++ for @user_conns;
        $summary .= '; user binds by child: ' . join(',', map { "$_:$by{$_}" } sort keys %by);
    }
    is $user_binds, scalar(keys %ldap_pid),
       'ca-flight: exactly one user bind per child process that asked LDAP' or diag $summary;
    ok $user_binds >= 1 && $user_binds <= keys %all_pid,
       'ca-flight: user binds between 1 and the number of serving children' or diag $summary;
    note $summary;
}

# ---------------------------------------------------------------------------
# 7. ProxyAuthConnectionAuth (SPEC "Details")

{
    my $ua = proxy_ua(keep_alive => 1);
    my $r = req($ua, 'ca-conn', ['alice', 'alice-secret']);
    is_200($r, 'ca-conn alice with credentials');
    is_note($r, 'ldap', 'alice', 'ca-conn alice with credentials');
    my $d;
    ($d, $r) = ops($SP, sub { req($ua, 'ca-conn', undef) });
    is_200($r, 'ca-conn same connection, no Proxy-Authorization');
    is_note($r, 'connection', 'alice', 'ca-conn same connection, no credentials');
    is_ops($d, 0, 0, 'ca-conn same connection, no credentials');
    $r = req($ua, 'ca-conn', undef);
    is_note($r, 'connection', 'alice', 'ca-conn same connection, no credentials again');
    is $r->header('Client-Response-Num'), 3,
       'ca-conn: the three requests used one connection (LWP Client-Response-Num)';

    my $ua2 = proxy_ua(keep_alive => 1);
    $r = req($ua2, 'ca-conn', undef);
    is_407($r, 'ca-conn', 'ca-conn new connection without credentials');

    $r = req($ua, 'ca-conn2', undef);
    is_407($r, 'ca-conn2', 'ca-conn2 (another realm: another directory context) on alice\'s '
                         . 'connection without credentials');

    $r = req($ua, 'ca-conn', ['alice', "alice-wrong-$run"]);
    is_407($r, 'ca-conn', 'ca-conn alice\'s connection, wrong password: no fallback to the '
                        . 'connection\'s identity');
    $r = req($ua, 'ca-conn', 'Basic !!!not-base64');
    is_407($r, 'ca-conn', 'ca-conn alice\'s connection, malformed Proxy-Authorization');
    ($d, $r) = ops($SP, sub { req($ua, 'ca-conn', ['bob', 'bob-secret']) });
    is_200($r, 'ca-conn alice\'s connection, bob\'s credentials');
    is_note($r, 'ldap', 'bob', 'ca-conn bob\'s credentials on alice\'s connection');
    ok $d->{bind} >= 1, 'ca-conn bob\'s credentials: validated by LDAP';
    is $r->header('Client-Response-Num'), 7, 'ca-conn: still the same connection';
}
{
    my $ua = proxy_ua(keep_alive => 1);
    my $r = req($ua, 'ca-noconn', ['alice', 'alice-secret']);
    is_200($r, 'ca-noconn (ConnectionAuth Off) alice');
    $r = req($ua, 'ca-noconn', undef);
    is_407($r, 'ca-noconn', 'ca-noconn same connection without credentials');
    is $r->header('Client-Response-Num'), 2, 'ca-noconn: same connection';
}
{
    # Require is still evaluated for every request
    my $ua = proxy_ua(keep_alive => 1);
    my $r = req($ua, 'ca-conngrp', ['alice', 'alice-secret']);
    is_200($r, 'ca-conngrp alice (in cn=admins)');
    $r = req($ua, 'ca-conngrp', undef);
    is_200($r, 'ca-conngrp alice\'s connection without credentials');
    is_note($r, 'connection', 'alice', 'ca-conngrp alice\'s connection without credentials');
    my $ub = proxy_ua(keep_alive => 1);
    $r = req($ub, 'ca-conngrp', ['carol', 'carol-secret']);
    is $r->code, 403, 'ca-conngrp carol (not in cn=admins): 403';
    $r = req($ub, 'ca-conngrp', undef);
    is $r->code, 403, 'ca-conngrp carol\'s connection without credentials: 403 (Require evaluated)'
        or diag 'got ' . desc($r);
    is $r->header('Client-Response-Num'), 2, 'ca-conngrp carol: same connection';
}

# ---------------------------------------------------------------------------
# 9. mod_status (?auto): the module's lines, and the hit counter moves with a
#    cached request (and the bind counter does not)

{
    my ($sr, $s, $servers) = status();
    is $sr->code, 200, 'server-status?auto: 200';
    my @missing = grep { !defined $s->{$_} || $s->{$_} !~ /^\d+$/ }
                  qw(ProxyAuthCacheHits ProxyAuthCacheMisses ProxyAuthCacheNegativeHits
                     ProxyAuthSoftLocks ProxyAuthConnectionReuses ProxyAuthLDAPBinds
                     ProxyAuthLDAPSearches);
    ok !@missing, 'server-status?auto: ProxyAuthCacheHits, ...Misses, ...NegativeHits, '
                . '...SoftLocks, ...ConnectionReuses, ProxyAuthLDAPBinds, ...Searches'
        or diag "missing: @missing\n" . ($sr->decoded_content // '');
    ok scalar(grep { /^127\.0\.0\.1:\Q$SP\E up\b/ } @$servers),
       "server-status?auto: ProxyAuthLDAPServer: 127.0.0.1:$SP up"
        or diag 'ProxyAuthLDAPServer lines: ' . join(' | ', @$servers);
    cmp_ok $s->{ProxyAuthCacheHits} // 0, '>=', 10, 'server-status: hits of this file counted';

    my $ua = proxy_ua(keep_alive => 1);
    my ($d, $r) = ops($SP, sub { req($ua, 'ca-hit', ['alice', 'alice-secret']) });
    is_note($r, 'cache', 'alice', 'ca-hit alice (for the status counters)');
    my ($sr2, $s2) = status();
    is +($s2->{ProxyAuthCacheHits} // 0) - ($s->{ProxyAuthCacheHits} // 0), 1,
       'server-status: ProxyAuthCacheHits +1 after one cached request';
    is +($s2->{ProxyAuthLDAPBinds} // 0) - ($s->{ProxyAuthLDAPBinds} // 0), 0,
       'server-status: ProxyAuthLDAPBinds unchanged';
}

# ---------------------------------------------------------------------------
# 6. The directory goes down: a cached pair is still accepted, an uncached
#    one gets 503 (never 407). /s/ca-down/ on this file's slapd, stopped here.

{
    my $ua = proxy_ua(keep_alive => 1);
    my $r = req($ua, 'ca-down', ['alice', 'alice-secret']);
    is_200($r, 'ca-down alice, directory up');
    is_note($r, 'ldap', 'alice', 'ca-down alice, directory up');
    slapd_stop($slapd);
    ok !PALTest::wait_for_port($SP, 0), 'own slapd stopped';
    $r = req($ua, 'ca-down', ['alice', 'alice-secret']);
    is_200($r, 'ca-down alice, directory down');
    is_note($r, 'cache', 'alice', 'ca-down alice, directory down');
    $r = req($ua, 'ca-down', ['bob', 'bob-secret']);
    is $r->code, 503, 'ca-down bob (never validated), directory down: 503'
        or diag 'got ' . desc($r);
    ok defined $r->header('Retry-After') && !pa($r),
       'ca-down bob: Retry-After, no Proxy-Authenticate';
    is_note($r, 'unavailable', '-', 'ca-down bob, directory down');
    my (undef, undef, $servers) = status();
    ok scalar(grep { /^127\.0\.0\.1:\Q$SP\E down\b/ } @$servers),
       "server-status: ProxyAuthLDAPServer: 127.0.0.1:$SP down"
        or diag 'ProxyAuthLDAPServer lines: ' . join(' | ', @$servers);
    $r = req($ua, 'ca-down', ['alice', 'alice-secret']);
    is_note($r, 'cache', 'alice', 'ca-down alice while the server is marked down');
}

# ---------------------------------------------------------------------------
# 8. A graceful restart keeps the cache (/s/ca-grace/, fixture slapd)

{
    my $ua = proxy_ua();      # no keep-alive: no connection holds an old child
    my ($d, $r) = ops($FIX, sub { req($ua, 'ca-grace', ['alice', 'alice-secret']) });
    is_200($r, 'ca-grace alice before the graceful restart');
    is_note($r, 'ldap', 'alice', 'ca-grace alice before the graceful restart');
    ok $d->{bind} >= 1, 'ca-grace alice before the restart: validated by LDAP';

    my $main = main_httpd_pid();
    my %old = map { $_ => 1 } children_of($main);
    my $mark = error_log_mark();
    ok kill('USR1', $main), "graceful restart (SIGUSR1 to $main)";
    my ($resumed, $gone, $served);
    my $deadline = time + 30;
    while (time < $deadline) {
        $resumed ||= error_log_since($mark) =~ /resuming normal operations/;
        $gone = !grep { kill 0, $_ } keys %old;
        if ($resumed && $gone) {
            my $p = req($ua, 'ca-grace', undef);
            if ($p->code == 407) { $served = 1; last }
        }
        sleep 0.1;
    }
    ok $resumed && $gone && $served, 'graceful restart: resumed, old children gone, serving again'
        or diag "resumed: " . ($resumed ? 1 : 0) . ", old children gone: " . ($gone ? 1 : 0)
              . ", served: " . ($served ? 1 : 0);

    ($d, $r) = ops($FIX, sub { req($ua, 'ca-grace', ['alice', 'alice-secret']) });
    is_200($r, 'ca-grace alice after the graceful restart');
    is_note($r, 'cache', 'alice', 'ca-grace alice after the graceful restart');
    is_ops($d, 0, 0, 'ca-grace alice after the graceful restart');
    my $pe = pid_entry(tag_of($r));
    ok @$pe && !$old{ $pe->[0] }, 'ca-grace: answered by a child of the new generation'
        or diag 'pid ' . ($pe->[0] // '?') . ', old children: ' . join(',', sort keys %old);
}
