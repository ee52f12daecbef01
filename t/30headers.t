# What reaches the origin through the proxy (Proxy-Authorization, the
# ProxyAuthForwardUser header, origin authentication), requests the module
# must never challenge (reverse proxy, the proxy's own pages, exemptions), and
# user look-up variants (StripDomain, anonymous search, base/scope of the URL,
# service password from file: and exec:). Scopes: t/conf/extra.conf.in.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

plan tests => 125;

my $origin = origin_hostport();
my $proxy  = proxy_hostport();
my $ALICE  = basic('alice', 'alice-secret');
my $REALM  = 'Basic realm="Test proxy", charset="UTF-8"';
my $ALICE_DN = 'uid=alice,ou=people,dc=example,dc=test';

# A tag per request, so its line in pal_access_log can be found.
my $seq = 0;
sub url {
    my ($scope) = @_;
    my $tag = sprintf 'hdr-%d-%d-%d', $$, time, ++$seq;
    my $path = $scope ? "/s/$scope/index.html" : '/index.html';
    return ("http://$origin$path?$tag", $tag);
}

sub seen {
    my ($r, $name) = @_;
    return $r->header("X-Seen-$name") // '';
}

# The pal_access_log line of the proxy request carrying $tag, parsed:
# { host, user, status, request, result, dn } (undef after 5 s without it).
my $access_log = Apache::Test::vars('t_logs') . '/pal_access_log';
sub access_entry {
    my ($tag) = @_;
    my $deadline = time + 5;
    while (1) {
        if (open my $fh, '<', $access_log) {
            while (my $l = <$fh>) {
                next unless index($l, "$tag ") >= 0;
                # The origin logs to the same file: its line has an
                # origin-form request target, the proxy's an absolute one.
                next unless $l =~ /^\S+ \S+ \d+ "\S+ http:/;
                chomp $l;
                return { line => $l } unless
                    $l =~ /^(\S+) (\S+) (\d+) "(.*)" (\S+) "(.*)"$/;
                return { line => $l, host => $1, user => $2, status => $3,
                         request => $4, result => $5, dn => $6 };
            }
        }
        return undef if time > $deadline;
        sleep 0.05;
    }
}

# A plain client for the proxy's own port and the origin (no proxy: LWP reads
# no proxy environment unless asked to).
my $direct = LWP::UserAgent->new(timeout => 30, keep_alive => 0);

# ---------------------------------------------------------------------------
# Controls: the origin echoes what it receives (straight, not through the proxy).
{
    my $r = $direct->get("http://$origin/index.html",
                         'Proxy-Authorization' => 'Basic Y29udHJvbDpjb250cm9s',
                         'X-Forwarded-User'    => 'ctl1',
                         ':X_Forwarded_User'   => 'ctl2',
                         'Authorization'       => 'Basic Y3RsOmN0bA==');
    is $r->code, 200, 'control: origin answers directly';
    is seen($r, 'Proxy-Authorization'), 'Basic Y29udHJvbDpjb250cm9s',
        'control: origin echoes Proxy-Authorization';
    is seen($r, 'Forwarded-User'), 'ctl1', 'control: origin echoes X-Forwarded-User';
    is seen($r, 'Forwarded-User2'), 'ctl2', 'control: origin echoes X_Forwarded_User';
    is seen($r, 'Authorization'), 'Basic Y3RsOmN0bA==', 'control: origin echoes Authorization';
}

# ---------------------------------------------------------------------------
# Proxy-Authorization is never forwarded upstream.
{
    my ($u, $tag) = url(undef);
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'alice, default scope: 200';
    like $r->content, qr/origin-ok/, 'alice, default scope: origin body';
    is seen($r, 'Proxy-Authorization'), '',
        'alice, default scope: Proxy-Authorization not forwarded';
    my $e = access_entry($tag);
    is $e && $e->{user}, 'alice', 'alice, default scope: %u = alice';
    # Earlier test files may have cached alice in this scope already.
    like $e && $e->{result}, qr/^(?:ldap|cache)$/,
        'alice, default scope: proxyauth-result ldap or cache';
    is $e && $e->{dn}, $ALICE_DN, 'alice, default scope: proxyauth-dn';
}

# Exempted (Require ip 127.0.0.1 in a <RequireAny>): credentials sent anyway
# are not used and not forwarded.
{
    my ($u, $tag) = url('exempt');
    my $c0 = monitor_counts();
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    my $c1 = monitor_counts();
    is $r->code, 200, 'exempt with credentials: 200';
    like $r->content, qr/origin-ok/, 'exempt with credentials: origin body';
    is seen($r, 'Proxy-Authorization'), '',
        'exempt with credentials: Proxy-Authorization not forwarded';
    ok !defined $r->header('Proxy-Authenticate'), 'exempt: no Proxy-Authenticate';
    is $c1->{bind} - $c0->{bind}, 0, 'exempt: no LDAP bind';
    is $c1->{search} - $c0->{search}, 0, 'exempt: no LDAP search';
    my $e = access_entry($tag);
    ok $e, 'exempt: access log line found' or diag "no line with $tag in $access_log";
    is $e && $e->{result}, 'exempt', 'exempt: proxyauth-result exempt';
    is $e && $e->{user}, '-', 'exempt: no user (%u is -)';
    is $e && $e->{status}, 200, 'exempt: logged status 200';
}
{
    my ($u, $tag) = url('exempt');
    my $r = proxy_request(GET => $u);
    is $r->code, 200, 'exempt without credentials: 200';
    my $e = access_entry($tag);
    is $e && $e->{result}, 'exempt', 'exempt without credentials: note exempt';
}

# Several Proxy-Authorization lines on scopes that do not authenticate: none is
# forwarded.
for my $scope (qw(exempt off)) {
    my ($u) = url($scope);
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => [$ALICE, basic('bob', 'bob-secret')]);
    is $r->code, 200, "$scope, two Proxy-Authorization lines: 200";
    is seen($r, 'Proxy-Authorization'), '', "$scope, two Proxy-Authorization lines: none forwarded";
}

# ProxyAuthLDAP Off: not authenticated, still stripped.
{
    my ($u) = url('off');
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'ProxyAuthLDAP Off with credentials: 200';
    is seen($r, 'Proxy-Authorization'), '',
        'ProxyAuthLDAP Off: Proxy-Authorization not forwarded';
    my $r2 = proxy_request(GET => $u);
    is $r2->code, 200, 'ProxyAuthLDAP Off without credentials: 200';
}

# Proxy-Chain-Auth (SetEnv, a fixup that runs late): forwarded.
{
    my ($u, $tag) = url('chain');
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'chain: alice 200';
    is seen($r, 'Proxy-Authorization'), $ALICE,
        'Proxy-Chain-Auth set by SetEnv: Proxy-Authorization forwarded unchanged';
    my $e = access_entry($tag);
    is $e && $e->{user}, 'alice', 'chain: still authenticated (%u = alice)';
    my $r2 = proxy_request(GET => $u);
    is $r2->code, 407, 'chain: no credentials still 407';
}

# ---------------------------------------------------------------------------
# ProxyAuthForwardUser X-Forwarded-User
{
    my ($u) = url('fwd');
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'fwd: alice 200';
    is seen($r, 'Forwarded-User'), 'alice', 'fwd: origin sees X-Forwarded-User: alice';
    is seen($r, 'Proxy-Authorization'), '', 'fwd: Proxy-Authorization not forwarded';

    ($u) = url('fwd');
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE,
                       'X-Forwarded-User' => 'mallory', ':X_Forwarded_User' => 'mallory');
    is $r->code, 200, 'fwd, client-sent headers: 200';
    is seen($r, 'Forwarded-User'), 'alice',
        'fwd: a client-sent X-Forwarded-User: mallory is replaced by alice';
    is seen($r, 'Forwarded-User2'), '',
        'fwd: a client-sent X_Forwarded_User: mallory is removed';

    ($u) = url('fwd');
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE,
                       'x-forwarded-user' => ['mallory', 'eve'], ':x_forwarded_USER' => 'eve');
    is seen($r, 'Forwarded-User'), 'alice',
        'fwd: two client-sent x-forwarded-user lines: only alice arrives';
    is seen($r, 'Forwarded-User2'), '', 'fwd: x_forwarded_USER removed';

    ($u) = url('fwd');
    $r = proxy_request(GET => $u, 'X-Forwarded-User' => 'alice');
    is $r->code, 407, 'fwd: X-Forwarded-User without credentials: 407';
}
{
    my ($u) = url('exempt');
    my $r = proxy_request(GET => $u, 'X-Forwarded-User' => 'mallory',
                          ':X_Forwarded_User' => 'mallory');
    is $r->code, 200, 'exempt + ForwardUser, no credentials: 200';
    is seen($r, 'Forwarded-User'), '',
        'exempt: client-sent X-Forwarded-User removed, none added';
    is seen($r, 'Forwarded-User2'), '', 'exempt: client-sent X_Forwarded_User removed';

    ($u) = url('exempt');
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE,
                       'X-Forwarded-User' => 'mallory');
    is $r->code, 200, 'exempt + ForwardUser, with credentials: 200';
    is seen($r, 'Forwarded-User'), '',
        'exempt with credentials: no user, X-Forwarded-User removed and none added';
}

# ---------------------------------------------------------------------------
# Origin authentication passes through untouched.
{
    my $u = "http://$origin/origin-auth";
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 401, 'origin-auth without Authorization: the origin\'s 401';
    like $r->header('WWW-Authenticate') // '', qr/^Basic realm="origin"/,
        'origin-auth: WWW-Authenticate realm "origin" reaches the client';
    ok !defined $r->header('Proxy-Authenticate'), 'origin-auth 401: no Proxy-Authenticate';

    my $web = basic('web', 'web-secret');
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE, 'Authorization' => $web);
    is $r->code, 200, 'origin-auth with Authorization: 200';
    like $r->content, qr/origin-ok/, 'origin-auth: origin body';
    is seen($r, 'Authorization'), $web, 'origin-auth: the origin saw the Authorization header';
    is seen($r, 'Proxy-Authorization'), '', 'origin-auth: Proxy-Authorization not forwarded';

    $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE,
                       'Authorization' => basic('web', 'wrong'));
    is $r->code, 401, 'origin-auth with a wrong origin password: the origin\'s 401';
    ok !defined $r->header('Proxy-Authenticate'), 'origin 401: no Proxy-Authenticate';

    $r = proxy_request(GET => $u, 'Authorization' => $web);
    is $r->code, 407, 'origin Authorization without Proxy-Authorization: 407';
}

# ---------------------------------------------------------------------------
# Not forward-proxy requests: never challenged.
{
    my $r = $direct->get("http://$proxy/rev/index.html");
    is $r->code, 200, 'reverse proxy (ProxyPass /rev/), no credentials: 200';
    like $r->content, qr/origin-ok/, 'reverse proxy: origin body';
    ok !defined $r->header('Proxy-Authenticate'), 'reverse proxy: no Proxy-Authenticate';

    $r = $direct->get("http://$proxy/rev/origin-auth");
    is $r->code, 401, 'reverse proxy to origin-auth: the origin\'s 401';
    like $r->header('WWW-Authenticate') // '', qr/realm="origin"/,
        'reverse proxy: WWW-Authenticate passes';
    $r = $direct->get("http://$proxy/rev/origin-auth",
                      'Authorization' => basic('web', 'web-secret'));
    is $r->code, 200, 'reverse proxy to origin-auth with Authorization: 200';

    $r = $direct->get("http://$proxy/");
    isnt $r->code, 407, 'GET / on the proxy port (not proxied): not 407';
    ok !defined $r->header('Proxy-Authenticate'), 'GET / on the proxy port: no Proxy-Authenticate';
}

# Require ip that does not match, or valid-user: a user is needed.
{
    my ($u) = url('notexempt');
    my $r = proxy_request(GET => $u);
    is $r->code, 407, 'notexempt without credentials: 407';
    is $r->header('Proxy-Authenticate'), $REALM, 'notexempt: Proxy-Authenticate';
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'notexempt with alice: 200';
}

# ---------------------------------------------------------------------------
# ProxyAuthLDAPStripDomain On
for my $name ('EXAMPLE\\alice', 'alice@example.test', 'alice', 'example.test\\alice',
              'alice@EXAMPLE') {
    my ($u, $tag) = url('strip');
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => basic($name, 'alice-secret'));
    is $r->code, 200, "strip: '$name' → 200";
    my $e = access_entry($tag);
    is $e && $e->{user}, 'alice', "strip: '$name' logged as %u = alice";
}
{
    my ($u) = url('strip');
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => basic('EXAMPLE\\nobody', 'x'));
    is $r->code, 407, 'strip: EXAMPLE\\nobody: 407';
}
# Default scope (no strip): the domain forms are other names.
for my $name ('EXAMPLE\\alice', 'alice@example.test') {
    my ($u) = url(undef);
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => basic($name, 'alice-secret'));
    is $r->code, 407, "no strip: '$name' → 407";
    is $r->header('Proxy-Authenticate'), $REALM, "no strip: '$name' gets the challenge";
}
{
    my ($u, $tag) = url(undef);
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'no strip: alice → 200';
}

# ---------------------------------------------------------------------------
# Anonymous search (no ProxyAuthLDAPBindDN in /s/anon/)
{
    my ($u, $tag) = url('anon');
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'anon: alice 200';
    my $e = access_entry($tag);
    is $e && $e->{user}, 'alice', 'anon: %u = alice';
    is $e && $e->{dn}, $ALICE_DN, 'anon: proxyauth-dn';
    $r = proxy_request(GET => $u);
    is $r->code, 407, 'anon: no credentials 407';
}

# URL with base ou=people, scope one, default filter
{
    my ($u, $tag) = url('people');
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'people: alice (ou=people) 200';
    my $e = access_entry($tag);
    is $e && $e->{dn}, $ALICE_DN, 'people: proxyauth-dn';
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => basic('carol', 'carol-secret'));
    is $r->code, 407, 'people: carol (ou=staff, outside the base) 407';
    is $r->header('Proxy-Authenticate'), $REALM, 'people: carol gets the challenge';
    # dup exists once under ou=people and once under ou=staff.
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => basic('dup', 'dup1'));
    is $r->code, 200, 'people: dup (one entry below ou=people) 200';
    $r = proxy_request(GET => $u, 'Proxy-Authorization' => basic('jürgen', 'pässwörd'));
    is $r->code, 200, 'people: jürgen (UTF-8) 200';
    my ($d) = url(undef);
    $r = proxy_request(GET => $d, 'Proxy-Authorization' => basic('carol', 'carol-secret'));
    is $r->code, 200, 'control: carol on the default scope (base dc=example) 200';
    $r = proxy_request(GET => $d, 'Proxy-Authorization' => basic('dup', 'dup1'));
    is $r->code, 407, 'control: dup on the default scope (two entries) 407';
}

# Service password from file: and exec:
for my $scope (qw(pwfile pwexec)) {
    my ($u, $tag) = url($scope);
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, "$scope: alice 200";
    my $e = access_entry($tag);
    is $e && $e->{result}, 'ldap', "$scope: proxyauth-result ldap";
}

# ---------------------------------------------------------------------------
# Repeated requests on one keep-alive connection: never forwarded either.
{
    my $ua = proxy_ua(keep_alive => 1);
    for my $i (1 .. 3) {
        my ($u) = url($i == 2 ? 'exempt' : 'fwd');
        my $r = $ua->get($u, 'Proxy-Authorization' => $ALICE,
                         'X-Forwarded-User' => 'mallory');
        is $r->code, 200, "keep-alive request $i: 200";
        is seen($r, 'Proxy-Authorization'), '', "keep-alive request $i: not forwarded";
        is seen($r, 'Forwarded-User'), ($i == 2 ? '' : 'alice'),
            "keep-alive request $i: X-Forwarded-User " . ($i == 2 ? 'removed' : 'alice');
    }
}

# HEAD and POST are handled alike.
{
    my ($u) = url('fwd');
    my $r = proxy_request(POST => $u, 'Proxy-Authorization' => $ALICE,
                          'Content-Type' => 'application/x-www-form-urlencoded',
                          Content => 'a=b');
    isnt $r->code, 407, 'POST with alice: not 407';
    is seen($r, 'Proxy-Authorization'), '', 'POST: Proxy-Authorization not forwarded';
    $r = proxy_request(HEAD => $u, 'Proxy-Authorization' => $ALICE);
    is $r->code, 200, 'HEAD with alice: 200';
    is seen($r, 'Proxy-Authorization'), '', 'HEAD: Proxy-Authorization not forwarded';
    is seen($r, 'Forwarded-User'), 'alice', 'HEAD: X-Forwarded-User alice';
}

# ---------------------------------------------------------------------------
# Wrong passwords last, all the same one: ProxyAuthMaxBadPasswords counts
# distinct wrong passwords per account, and alice must not be soft-locked
# while the tests above still need her.
for my $case (['notexempt', 'alice'], ['strip', 'EXAMPLE\\alice'], ['anon', 'alice'],
              ['pwfile', 'alice'], ['pwexec', 'alice']) {
    my ($scope, $name) = @$case;
    my ($u) = url($scope);
    my $r = proxy_request(GET => $u, 'Proxy-Authorization' => basic($name, 'wrong-pw'));
    is $r->code, 407, "$scope: '$name' with a wrong password: 407 (not 503)";
    my $realm = $scope =~ /^pw/ ? qq{Basic realm="$scope", charset="UTF-8"} : $REALM;
    is $r->header('Proxy-Authenticate'), $realm, "$scope: wrong password: Proxy-Authenticate";
}
