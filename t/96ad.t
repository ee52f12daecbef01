# A real Active Directory: a Samba AD DC that this file provisions (or
# restores from its cache) and starts in a network namespace of its own
# (t/lib/PALSamba.pm), and a proxy httpd of its own (httpd_start) whose
# <Proxy "http://ORIGIN/s/ad-NAME/*"> scopes, each with its own realm (so its
# own cache context), point at the DC:
#
#   ad-sam       ldaps://DC/ sAMAccountName (the service account svc-proxy)
#   ad-upn       ldaps://DC/ userPrincipalName
#   ad-strip     sAMAccountName, ProxyAuthLDAPStripDomain On
#   ad-upnstrip  userPrincipalName, ProxyAuthLDAPStripDomain On
#   ad-starttls  ldap://DC:389/ + StartTLS
#   ad-gc        Global Catalog ldaps://DC:3269/
#   ad-gctls     Global Catalog ldap://DC:3268/ + StartTLS
#   ad-nested    Require proxy-ldap-group G-Outer, ProxyAuthLDAPNestedGroups On
#   ad-direct    Require proxy-ldap-group G-Outer, NestedGroups Off (default)
#   ad-lock      ProxyAuthNegativeTTL and ProxyAuthMaxBadPasswords at their
#                defaults (30 s, 3): the stale-password client
#   ad-nolock    ProxyAuthNegativeTTL 0, ProxyAuthMaxBadPasswords 0: the same
#                client locks the account out
#   ad-locked    defaults: a locked-out account (775) is cached negatively
#   ad-plain     ldap://DC:389/ without StartTLS: AD refuses simple binds (503)
#
# Every search starts at the domain root (sub), where AD also returns
# continuation references: referral chasing is off by default.
# The one slow part is the stale-password client: one request a second for
# 120 s (PAL_AD_STALE_SECONDS=N shortens it to N >= 35 s, still longer than
# NegativeTTL, when iterating on this file). Skipped (reason on a line of its own) when no network namespace can
# be made (not root, no `ip netns`) or the Samba packages are missing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALSamba;
use Time::HiRes qw(sleep time);

my $T0 = time;
my ($dc, $why) = PALSamba::start();
if (!$dc) {
    print STDERR "\nt/96ad.t: skipped: $why\n";
    plan skip_all => $why;
}
my $ready = time - $T0;
diag sprintf "Samba AD DC %s at %s: domain %s in %.1f s, DC answering %.1f s later",
    PALSamba::samba_version(), $dc->{ip}, $dc->{domain_from},
    $dc->{domain_seconds}, $dc->{start_seconds};

my $origin = origin_hostport();
my $IP     = $dc->{ip};
my $BASE   = $dc->{base};
my $UPN    = $dc->{dns};                          # ad.example.test
my $NB     = $dc->{domain};                       # EXAMPLE
my $JU     = "j\xc3\xbcrgen";                     # UTF-8 bytes
my $GROUP  = $dc->group_dn('G-Outer');
my $STALE  = 'Stale-Pa55-' . $$;                  # the old password of victim
my $SAM_FILTER = '(&(objectCategory=person)(objectClass=user))';
my $STALE_N = $ENV{PAL_AD_STALE_SECONDS} && $ENV{PAL_AD_STALE_SECONDS} =~ /^\d+$/
            && $ENV{PAL_AD_STALE_SECONDS} >= 35 ? $ENV{PAL_AD_STALE_SECONDS} : 120;

# ---------------------------------------------------------------------------
# The proxy

my %realm;
sub scope {
    my ($name, $realm, @lines) = @_;
    $realm{$name} = $realm;
    return join "\n", qq{<Proxy "http://$origin/s/$name/*">},
        qq{    ProxyAuthRealm "$realm"}, map({ "    $_" } @lines), '</Proxy>', '';
}
my $url_sam  = "ldaps://$IP/$BASE?sAMAccountName?sub?$SAM_FILTER";
my $url_upn  = "ldaps://$IP/$BASE?userPrincipalName?sub?(objectClass=user)";
my $conf = <<"EOC"
LogFormat "%h %u %>s \\"%r\\" %{proxyauth-result}n \\"%{proxyauth-dn}n\\"" palfmt
CustomLog "\@DIR\@/access_log" palfmt
ProxyRequests On
ProxyVia Off
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthRealm "AD"
    ProxyAuthLDAPURL "$url_sam"
    ProxyAuthLDAPBindDN "@{[ $dc->svc_dn ]}"
    ProxyAuthLDAPBindPassword "@{[ $dc->svc_pw ]}"
    ProxyAuthLDAPCACertificate "$dc->{ca}"
    ProxyAuthLDAPTimeout 5
</Proxy>
EOC
  . scope('ad-sam', 'AD sAMAccountName')
  . scope('ad-upn', 'AD UPN', qq{ProxyAuthLDAPURL "$url_upn"})
  . scope('ad-strip', 'AD strip', 'ProxyAuthLDAPStripDomain On')
  . scope('ad-upnstrip', 'AD UPN strip', qq{ProxyAuthLDAPURL "$url_upn"},
          'ProxyAuthLDAPStripDomain On')
  . scope('ad-starttls', 'AD StartTLS',
          qq{ProxyAuthLDAPURL "ldap://$IP/$BASE?sAMAccountName?sub?(objectClass=user)"},
          'ProxyAuthLDAPStartTLS On')
  . scope('ad-gc', 'AD GC',
          qq{ProxyAuthLDAPURL "ldaps://$IP:3269/$BASE?sAMAccountName?sub?(objectClass=user)"})
  . scope('ad-gctls', 'AD GC StartTLS',
          qq{ProxyAuthLDAPURL "ldap://$IP:3268/$BASE?sAMAccountName?sub?(objectClass=user)"},
          'ProxyAuthLDAPStartTLS On')
  . scope('ad-nested', 'AD nested', 'ProxyAuthLDAPNestedGroups On',
          qq{Require proxy-ldap-group "$GROUP"})
  . scope('ad-direct', 'AD direct', qq{Require proxy-ldap-group "$GROUP"})
  . scope('ad-lock', 'AD lockout protected')
  . scope('ad-nolock', 'AD lockout unprotected', 'ProxyAuthNegativeTTL 0',
          'ProxyAuthMaxBadPasswords 0')
  . scope('ad-locked', 'AD locked')
  . scope('ad-plain', 'AD plain',
          qq{ProxyAuthLDAPURL "ldap://$IP/$BASE?sAMAccountName?sub?(objectClass=user)"});

my $h = httpd_start(conf => $conf);
$PALTest::PROXY_HOSTPORT = "127.0.0.1:$h->{port}";
my $access_log = "$h->{dir}/access_log";

# ---------------------------------------------------------------------------
# Helpers

my $seq = 0;
sub url {
    my ($scope) = @_;
    return sprintf 'http://%s/s/%s/index.html?ad-%d-%d', $origin, $scope, $$, ++$seq;
}

# get_u($scope, $user, $pass) -> ($response, $url); no credentials when $user
# is undef. get(...) -> $response.
sub get_u {
    my ($scope, $user, $pass) = @_;
    my $u = url($scope);
    my $r = proxy_request(GET => $u, defined $user
        ? ('Proxy-Authorization' => basic($user, $pass)) : ());
    return ($r, $u);
}
sub get { return (get_u(@_))[0] }

sub pw { return $dc->pw($_[0]) }

# The access-log line of the request to $url: { user, status, result, dn }
# (httpd's \\ and \xhh escapes undone).
sub access_entry {
    my ($url) = @_;
    my $deadline = time + 5;
    while (1) {
        if (open my $fh, '<', $access_log) {
            while (my $l = <$fh>) {
                next unless index($l, " \"GET $url ") >= 0;
                chomp $l;
                return { line => $l } unless
                    $l =~ /^(\S+) (\S+) (\d+) "(.*)" (\S+) "(.*)"$/;
                my %e = (line => $l, user => $2, status => $3, result => $5, dn => $6);
                for (@e{qw(user dn)}) {
                    s/\\x([0-9a-fA-F]{2})/chr hex $1/ge;
                    s/\\(["\\])/$1/g;
                }
                return \%e;
            }
        }
        return undef if time > $deadline;
        sleep 0.05;
    }
}

sub log_mark { return -s $h->{error_log} || 0 }
sub log_since {
    my ($off) = @_;
    open my $fh, '<', $h->{error_log} or return '';
    seek $fh, $off, 0;
    local $/;
    return scalar(<$fh>) // '';
}
# log_wait($off, qr//): the error-log text since $off once it matches (or after 3 s).
sub log_wait {
    my ($off, $re) = @_;
    my $deadline = time + 3;
    while (1) {
        my $t = log_since($off);
        return $t if $t =~ $re || time > $deadline;
        sleep 0.05;
    }
}

sub is_challenge {
    my ($r, $scope, $what) = @_;
    is $r->code, 407, "$what: 407";
    is scalar($r->header('Proxy-Authenticate')) // '',
        qq{Basic realm="$realm{$scope}", charset="UTF-8"}, "$what: Proxy-Authenticate";
}

sub is_ok {
    my ($r, $what) = @_;
    is $r->code, 200, "$what: 200";
    like $r->content, qr/origin-ok/, "$what: the origin's page";
}

sub is_denied {
    my ($r, $what) = @_;
    is $r->code, 403, "$what: 403";
    ok !defined $r->header('Proxy-Authenticate'), "$what: no Proxy-Authenticate";
}

# ok_as($scope, $login, $pass, $user_logged, $dn): 200 and the access log's %u / DN.
sub ok_as {
    my ($scope, $login, $pass, $want_user, $want_dn, $what) = @_;
    $what //= "$scope: $login";
    my ($r, $u) = get_u($scope, $login, $pass);
    is_ok($r, $what);
    my $e = access_entry($u);
    is $e && $e->{user}, $want_user, "$what: %u is the directory's login value" if defined $want_user;
    is $e && $e->{dn}, $want_dn, "$what: proxyauth-dn" if defined $want_dn;
    return $e;
}

# ---------------------------------------------------------------------------
# The DC itself: what makes these tests meaningful

{
    my ($st, $out) = PALSamba::ldapsearch($dc, "ldaps://$IP/", $dc->svc_dn, $dc->svc_pw,
                                          '-b', $BASE, '(sAMAccountName=carol)', 'dn');
    is $st, 0, 'DC: subtree search at the domain root as svc-proxy';
    like $out, qr/^# ref/m, 'DC: that search returns continuation references too';
    my $plain;
    ($st, $plain) = PALSamba::ldapsearch($dc, "ldap://$IP/", $dc->svc_dn, $dc->svc_pw,
                                         '-b', $BASE, '-s', 'base', 'dn');
    like $plain, qr/Strong\(er\) authentication required|Transport encryption required/,
        'DC: simple binds over plain LDAP are refused (rc 8)';
}

# ---------------------------------------------------------------------------
# sAMAccountName over LDAPS: names, OUs, DN escaping

ok_as('ad-sam', 'alice', pw('alice'), 'alice', $dc->dn('alice'));
{
    my $e = access_entry((get_u('ad-sam', 'alice', pw('alice')))[1]);
    is $e && $e->{result}, 'cache', 'ad-sam: alice again: from the cache';
}
ok_as('ad-sam', 'ALICE', pw('alice'), 'alice', $dc->dn('alice'),
      'ad-sam: ALICE (AD matches case-insensitively)');
{
    my $am = PALSamba::auth_mark($dc);
    ok_as('ad-sam', 'jdoe', pw('jdoe'), 'jdoe', 'CN=Doe\, John,OU=People,' . $BASE,
          'ad-sam: jdoe (CN "Doe, John": comma and space in the DN)');
    sleep 0.2;
    is PALSamba::binds_for($dc, $am, 'jdoe'), 1, 'ad-sam: jdoe: one bind, with the escaped DN';
}
ok_as('ad-sam', $JU, pw($JU), $JU, "CN=J\xc3\xbcrgen M\xc3\xbcller,OU=People,$BASE",
      'ad-sam: j\\xfcrgen (non-ASCII name, password and DN)');
ok_as('ad-sam', 'carol', pw('carol'), 'carol', "CN=carol,OU=Contractors,$BASE",
      'ad-sam: carol (another OU)');
ok_as('ad-sam', 'svc-proxy', pw('svc-proxy'), 'svc-proxy', $dc->svc_dn,
      'ad-sam: svc-proxy (a third OU)');
{
    my $m = log_mark();
    my $r = get('ad-sam', 'alice', 'Wrong-Pa55-' . $$);
    is_challenge($r, 'ad-sam', 'ad-sam: alice, wrong password');
    like log_wait($m, qr/PAL0201/),
        qr/PAL0201: authentication of user "alice" failed: bad password \(AD 52e: bad password or unknown user\)/,
        'ad-sam: wrong password: PAL0201 names AD 52e';

    $m = log_mark();
    is_challenge(get('ad-sam', 'nosuch-user', 'Whatever-1'), 'ad-sam', 'ad-sam: unknown user');
    like log_wait($m, qr/PAL0201/), qr/PAL0201: authentication of user "nosuch-user" failed: unknown user/,
        'ad-sam: unknown user: PAL0201 says so';

    is_challenge(get('ad-sam', "$NB\\alice", pw('alice')), 'ad-sam',
                 'ad-sam (StripDomain Off): EXAMPLE\\alice is not a sAMAccountName');
    is_challenge(get('ad-sam', "alice\@$UPN", pw('alice')), 'ad-sam',
                 'ad-sam (StripDomain Off): alice@ad.example.test is not a sAMAccountName');
    is_challenge(get('ad-sam'), 'ad-sam', 'ad-sam: no credentials');
}

# Empty password: Windows AD would take it as an anonymous bind and answer
# success. The module refuses it before any LDAP operation.
{
    my $m = log_mark();
    my $am = PALSamba::auth_mark($dc);
    my $r = get('ad-sam', 'alice', '');
    is_challenge($r, 'ad-sam', 'ad-sam: alice with an empty password');
    like log_wait($m, qr/empty password/), qr/PAL0101: rejected Proxy-Authorization: empty password/,
        'empty password: refused by the module (PAL0101)';
    $r = get('ad-upn', "alice\@$UPN", '');
    is_challenge($r, 'ad-upn', 'ad-upn: alice@ with an empty password');
    sleep 0.3;
    my @ev = PALSamba::auth_events($dc, $am);
    is scalar(@ev), 0, 'empty password: no bind reached the DC (Samba auth log)'
        or diag join '', map { $_->{line} } @ev;
}

# ---------------------------------------------------------------------------
# AD account states: the sub-code of the bind failure, by name; 407; cached
# negatively (the second try costs no bind).

for my $c (['dis', '533', 'account disabled'],
           ['expacct', '701', 'account expired'],
           ['mustchg', '773', 'user must change password'],
           ['pwexp', '532', 'password expired']) {
    my ($login, $code, $name) = @$c;
    my $m = log_mark();
    my $am = PALSamba::auth_mark($dc);
    my ($r, $u) = get_u('ad-sam', $login, pw($login));
    is_challenge($r, 'ad-sam', "AD $code ($login, right password)");
    like log_wait($m, qr/PAL0201/),
        qr/PAL0201: authentication of user "\Q$login\E" failed: .*AD $code: \Q$name\E/,
        "AD $code: PAL0201 names the sub-code and '$name'";
    my ($r2, $u2) = get_u('ad-sam', $login, pw($login));
    is_challenge($r2, 'ad-sam', "AD $code: again");
    my $e = access_entry($u2);
    is $e && $e->{result}, 'negative', "AD $code: the second answer comes from the negative cache";
    sleep 0.2;
    is PALSamba::binds_for($dc, $am, $login), 1, "AD $code: one bind for both requests";
}

# ---------------------------------------------------------------------------
# userPrincipalName and ProxyAuthLDAPStripDomain

ok_as('ad-upn', "alice\@$UPN", pw('alice'), "alice\@$UPN", $dc->dn('alice'));
ok_as('ad-upn', "ALICE\@AD.EXAMPLE.TEST", pw('alice'), "alice\@$UPN", $dc->dn('alice'),
      'ad-upn: ALICE@AD.EXAMPLE.TEST');
ok_as('ad-upn', "$JU\@$UPN", pw($JU), "$JU\@$UPN", undef, 'ad-upn: j\\xfcrgen@ad.example.test');
is_challenge(get('ad-upn', 'alice', pw('alice')), 'ad-upn', 'ad-upn: bare alice');
is_challenge(get('ad-upn', "$NB\\alice\@$UPN", pw('alice')), 'ad-upn',
             'ad-upn (StripDomain Off): EXAMPLE\\alice@ad.example.test');

ok_as('ad-strip', "$NB\\alice", pw('alice'), 'alice', $dc->dn('alice'), 'ad-strip: EXAMPLE\\alice');
ok_as('ad-strip', "alice\@$UPN", pw('alice'), 'alice', $dc->dn('alice'), 'ad-strip: alice@ad.example.test');
ok_as('ad-strip', 'alice', pw('alice'), 'alice', $dc->dn('alice'), 'ad-strip: alice');
ok_as('ad-strip', 'example\\bob', pw('bob'), 'bob', $dc->dn('bob'), 'ad-strip: example\\bob (any case)');
ok_as('ad-strip', 'bob@elsewhere.test', pw('bob'), 'bob', undef, 'ad-strip: bob@elsewhere.test (any domain part)');
ok_as('ad-strip', "$NB\\$JU", pw($JU), $JU, undef, 'ad-strip: EXAMPLE\\j\\xfcrgen');
ok_as('ad-strip', "jdoe\@$UPN", pw('jdoe'), 'jdoe', 'CN=Doe\, John,OU=People,' . $BASE,
      'ad-strip: jdoe@ad.example.test');
is_challenge(get('ad-strip', "$NB\\alice", 'Wrong-Pa55-s' . $$), 'ad-strip',
             'ad-strip: EXAMPLE\\alice, wrong password');

ok_as('ad-upnstrip', "$NB\\alice\@$UPN", pw('alice'), "alice\@$UPN", $dc->dn('alice'),
      'ad-upnstrip: EXAMPLE\\alice@ad.example.test (only DOMAIN\\ stripped)');
ok_as('ad-upnstrip', "alice\@$UPN", pw('alice'), "alice\@$UPN", $dc->dn('alice'),
      'ad-upnstrip: alice@ad.example.test looked up whole');
is_challenge(get('ad-upnstrip', "$NB\\alice", pw('alice')), 'ad-upnstrip',
             'ad-upnstrip: EXAMPLE\\alice (alice is no UPN)');

# ---------------------------------------------------------------------------
# StartTLS and the Global Catalog

ok_as('ad-starttls', 'alice', pw('alice'), 'alice', $dc->dn('alice'), 'ad-starttls (389 + StartTLS): alice');
ok_as('ad-gc', 'alice', pw('alice'), 'alice', $dc->dn('alice'), 'ad-gc (GC 3269, LDAPS): alice');
ok_as('ad-gc', 'carol', pw('carol'), 'carol', undef, 'ad-gc: carol');
ok_as('ad-gc', 'jdoe', pw('jdoe'), 'jdoe', undef, 'ad-gc: jdoe');
ok_as('ad-gctls', 'alice', pw('alice'), 'alice', $dc->dn('alice'), 'ad-gctls (GC 3268 + StartTLS): alice');
is_challenge(get('ad-gc', 'carol', 'Wrong-Pa55-g' . $$), 'ad-gc', 'ad-gc: carol, wrong password');

# ---------------------------------------------------------------------------
# Groups: G-Outer > G-Inner > alice, jürgen; bob and jdoe direct members of G-Outer

is_ok(get('ad-nested', 'alice', pw('alice')), 'ad-nested: alice (G-Inner inside G-Outer)');
is_ok(get('ad-nested', $JU, pw($JU)), 'ad-nested: j\\xfcrgen (G-Inner inside G-Outer, non-ASCII DN)');
is_ok(get('ad-nested', 'bob', pw('bob')), 'ad-nested: bob (direct member)');
is_ok(get('ad-nested', 'jdoe', pw('jdoe')), 'ad-nested: jdoe (direct member, comma in the DN)');
is_denied(get('ad-nested', 'carol', pw('carol')), 'ad-nested: carol (no group)');
# carol: alice's wrong passwords of the scopes above already count toward
# the soft lock of her account (one DN, one directory, whatever the scope).
is_challenge(get('ad-nested', 'carol', 'Wrong-Pa55-n' . $$), 'ad-nested', 'ad-nested: carol, wrong password');

is_denied(get('ad-direct', 'alice', pw('alice')), 'ad-direct: alice (only through G-Inner)');
is_denied(get('ad-direct', $JU, pw($JU)), 'ad-direct: j\\xfcrgen (only through G-Inner)');
is_ok(get('ad-direct', 'bob', pw('bob')), 'ad-direct: bob (direct member)');
is_ok(get('ad-direct', 'jdoe', pw('jdoe')), 'ad-direct: jdoe (direct member, comma in the DN)');
is_denied(get('ad-direct', 'carol', pw('carol')), 'ad-direct: carol (no group)');

# ---------------------------------------------------------------------------
# Plain LDAP without StartTLS: AD refuses the service bind (rc 8): 503, and
# the server is not marked down for the StartTLS scope on the same host:port.

{
    my $m = log_mark();
    my $r = get('ad-plain', 'alice', pw('alice'));
    is $r->code, 503, 'ad-plain (no TLS): 503';
    ok defined $r->header('Retry-After'), 'ad-plain: Retry-After';
    ok !defined $r->header('Proxy-Authenticate'), 'ad-plain: no Proxy-Authenticate';
    like log_wait($m, qr/PAL0201/), qr/PAL0201: authentication of user "alice" failed/,
        'ad-plain: PAL0201 says why';
    ok_as('ad-starttls', 'bob', pw('bob'), 'bob', undef,
          'ad-starttls after the refused plain bind on the same port: bob');
}

# ---------------------------------------------------------------------------
# Lockout protection, measured. victim has a lockout threshold of 5 (PSO).
# 1. ad-lock (NegativeTTL 30, MaxBadPasswords 3: the defaults): a client
#    that sends a stale password every second for two minutes costs one bind
#    and leaves the account unlocked.

sub lock_state {
    my $e = $dc->ldb_get('victim', qw(badPwdCount lockoutTime msDS-User-Account-Control-Computed));
    return ($e->{badPwdCount} // 0, $e->{lockoutTime} // 0,
            ($e->{'msDS-User-Account-Control-Computed'} // 0) & 0x10);
}

{
    my ($bad0, $lock0) = lock_state();
    is "$bad0/$lock0", '0/0', 'victim: badPwdCount 0, not locked before the test';
    my $am = PALSamba::auth_mark($dc);
    my $m = log_mark();
    my (%codes, %results, @urls);
    my $n = 0;
    my $start = time;
    # One request a second, $STALE_N (120) requests, bounded in time too.
    while ($n < $STALE_N && time - $start < $STALE_N + 15) {
        my $next = $start + $n + 1;
        my ($r, $u) = get_u('ad-lock', 'victim', $STALE);
        $codes{ $r->code }++;
        push @urls, $u;
        $n++;
        my $left = $next - time;
        sleep $left if $left > 0;
    }
    my $secs = time - $start;
    diag sprintf 'stale-password client: %d requests in %.0f s', $n, $secs;
    is $n, $STALE_N, "stale client: $STALE_N requests";
    cmp_ok $secs, '>=', $STALE_N - 1, "stale client: $STALE_N s (longer than NegativeTTL 30 s)";
    is join(',', map { "$_=$codes{$_}" } sort keys %codes), "407=$STALE_N", 'stale client: every answer 407';
    $results{ (access_entry($_) // {})->{result} // '?' }++ for @urls;
    is $results{negative} // 0, $STALE_N - 1,
        'stale client: all answers but the first from the negative cache';
    sleep 0.3;
    is PALSamba::binds_for($dc, $am, 'victim'), 1, "stale client: one bind reached the DC in $STALE_N s";
    my ($bad, $lockt, $locked) = lock_state();
    cmp_ok $bad, '<', 5, "stale client: badPwdCount $bad < 5 (the lockout threshold)";
    is $lockt, 0, 'stale client: lockoutTime 0';
    ok !$locked, 'stale client: the account is not locked out (UF_LOCKOUT unset)';
    unlike log_since($m), qr/AD 775/, 'stale client: no 775 in the error log';

    # The user's right password still works there (one wrong password is
    # below ProxyAuthMaxBadPasswords), and a good bind resets AD's counter.
    ok_as('ad-lock', 'victim', pw('victim'), 'victim', $dc->dn('victim'),
          'ad-lock: victim with the right password after the stale client');
    $dc->samba_tool(qw(user unlock victim));
    ($bad, $lockt) = lock_state();
    is "$bad/$lockt", '0/0', 'victim: reset (badPwdCount 0, lockoutTime 0) for the second run';

    # A session in ad-locked, for part 3.
    ok_as('ad-locked', 'victim', pw('victim'), 'victim', undef, 'ad-locked: victim logs in');
}

# 2. ad-nolock (NegativeTTL 0, MaxBadPasswords 0): the same client, ten
#    requests, every one a bind: AD locks the account (775) -- the
#    measurement above can fail.
{
    my $am = PALSamba::auth_mark($dc);
    my $m = log_mark();
    my %codes;
    for (1 .. 10) {
        $codes{ get('ad-nolock', 'victim', $STALE)->code }++;
        sleep 0.2;
    }
    is join(',', map { "$_=$codes{$_}" } sort keys %codes), '407=10', 'unprotected: every answer 407';
    sleep 0.3;
    is PALSamba::binds_for($dc, $am, 'victim'), 10, 'unprotected: every request is a bind';
    my ($bad, $lockt, $locked) = lock_state();
    cmp_ok $bad, '>=', 5, "unprotected: badPwdCount $bad reached the threshold";
    isnt $lockt, 0, 'unprotected: lockoutTime set: AD locked the account';
    ok $locked, 'unprotected: UF_LOCKOUT set';
    like log_wait($m, qr/AD 775/),
        qr/PAL0201: authentication of user "victim" failed: .*AD 775: account locked out/,
        'unprotected: PAL0201 names AD 775 (account locked out)';
}

# 3. ad-locked (defaults) after the lockout: victim's session from before is
#    answered from the cache (AD is not asked within the session window);
#    the first request that reaches AD gets 775, which ends that session and
#    is cached negatively like a bad password.
{
    my $am = PALSamba::auth_mark($dc);
    my ($r, $u) = get_u('ad-locked', 'victim', pw('victim'));
    is $r->code, 200, 'ad-locked: the session from before the lockout: 200';
    my $e = access_entry($u);
    is $e && $e->{result}, 'cache', 'ad-locked: ... from the cache';

    my $m = log_mark();
    is_challenge(get('ad-locked', 'victim', 'Other-Pa55-' . $$), 'ad-locked',
                 'ad-locked: victim, another password, account locked');
    like log_wait($m, qr/PAL0201/), qr/PAL0201: authentication of user "victim" failed: .*AD 775: account locked out/,
        'ad-locked: AD 775 in PAL0201';
    sleep 0.2;
    is PALSamba::binds_for($dc, $am, 'victim'), 1, 'ad-locked: one bind so far';

    $m = log_mark();
    ($r, $u) = get_u('ad-locked', 'victim', pw('victim'));
    is_challenge($r, 'ad-locked', 'ad-locked: the right password after the 775: the session has ended');
    like log_wait($m, qr/PAL020/), qr/AD 775/, 'ad-locked: ... AD 775 again';
    ($r, $u) = get_u('ad-locked', 'victim', pw('victim'));
    is_challenge($r, 'ad-locked', 'ad-locked: the right password once more');
    $e = access_entry($u);
    is $e && $e->{result}, 'negative', 'ad-locked: ... the 775 comes from the negative cache';
    sleep 0.2;
    is PALSamba::binds_for($dc, $am, 'victim'), 2, 'ad-locked: two binds for the four requests';
    $dc->samba_tool(qw(user unlock victim));
}

# ---------------------------------------------------------------------------

# On failure: what the proxy and the DC logged.
if (!Test::More->builder->is_passing) {
    my $tail = sub {
        my ($f, $n, $re) = @_;
        open my $fh, '<', $f or return "    ($f: $!)\n";
        my @l = grep { !$re || /$re/ } <$fh>;
        splice @l, 0, @l - $n if @l > $n;
        return join '', map { "    $_" } @l;
    };
    diag "last lines of the proxy's error log:\n" . $tail->($h->{error_log}, 40, qr/PAL|error|warn/);
    diag "last binds in samba's log:\n" . $tail->($dc->{log}, 20, qr/Auth: \[LDAP/);
}

is httpd_stop($h), 0, 'the proxy exits 0 on SIGTERM' or diag "httpd: $h->{status_text}";
PALSamba::stop($dc);
ok !grep({ /\bpal-ad-$dc->{slot}\b/ } `ip netns list 2>/dev/null`), 'teardown: the namespace is gone';
diag sprintf 't/96ad.t: %.0f s in all (DC ready after %.1f s)', time - $T0, $ready;
done_testing();
