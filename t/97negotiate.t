# Negotiate (SPEC "Negotiate"): Kerberos single sign-on against the Samba
# AD DC of t/lib/PALSamba.pm, which is also the KDC. The proxy's service
# account "proxy" has the SPN HTTP/proxy.ad.example.test (AES keys only);
# its keytab is made here with ktutil from the account's password and salt.
# Clients get tickets with kinit (one credential cache per user) and their
# tokens come from GSSAPI itself (t/bin/gss-token: a fresh context per
# token, as a browser makes one per connection); curl --proxy-negotiate is
# the end-to-end client, run in a private mount namespace whose /etc/hosts
# maps proxy.ad.example.test to 127.0.0.1 (curl derives the SPN from the
# proxy's host name).
#
# The proxy (httpd_start) has one <Proxy "http://ORIGIN/s/NAME/*"> scope per
# case, each with a realm of its own (its own cache context):
#   neg        Negotiate On + Basic, sAMAccountName
#   neg-only   ProxyAuthBasic Off
#   neg-group  Require proxy-ldap-group G-Outer (direct members: bob, jdoe)
#   neg-filter URL filter memberOf=G-Outer: carol is in the KDC, not in it
#   neg-upn    the login attribute is userPrincipalName
#   neg-princ  ProxyAuthNegotiatePrincipal HTTP/proxy.ad.example.test@REALM
#   neg-off    ProxyAuthNegotiate Off (Basic only)
#   neg-enabled Require proxy-ldap-filter: accounts not disabled in AD
# Skipped (reason on a line of its own) where t/96ad.t is.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALSamba;
use HTTP::Request;
use MIME::Base64 qw(decode_base64 encode_base64);
use File::Path qw(make_path);
use POSIX ();
use Time::HiRes qw(sleep time);

my $T0 = time;
my ($dc, $why) = PALSamba::start();
if (!$dc) {
    print STDERR "\nt/97negotiate.t: skipped: $why\n";
    plan skip_all => $why;
}
for my $p (qw(curl unshare mount)) {
    next if grep { -x "$_/$p" } split(/:/, $ENV{PATH}), qw(/usr/bin /bin /usr/sbin /sbin);
    plan skip_all => "$p not found";
}
diag sprintf "Samba AD DC %s at %s (KDC too): domain %s, ready after %.1f s",
    PALSamba::samba_version(), $dc->{ip}, $dc->{domain_from}, time - $T0;

my $origin = origin_hostport();
my $IP     = $dc->{ip};
my $BASE   = $dc->{base};
my $REALM  = $dc->{realm};
my $PHOST  = $dc->spn_host('proxy');               # proxy.ad.example.test
my $GROUP  = $dc->group_dn('G-Outer');
my $KRB5   = PALSamba::krb5_conf($dc);
my $gid    = (getpwnam('nobody'))[3];

# The keytab where the children (nobody) can read it, and nobody else.
my $dir = "$ENV{PAL_TMP}/negotiate-$$";
make_path($dir);
chmod 0755, $dir;
my $KT = PALSamba::keytab($dc, 'proxy', "$dir/proxy.keytab");
chown 0, $gid, $KT;
chmod 0640, $KT;

# Tickets: one credential cache per user.
my %cc;
for my $u (qw(alice bob carol jdoe)) {
    $cc{$u} = "$dir/cc-$u";
    my ($ok, $out) = PALSamba::kinit($dc, $u, $cc{$u});
    BAIL_OUT("kinit $u: $out") unless $ok;
}

# tokens($user, $n, %o) -> $n base64 tokens for HTTP@host (o{host}, default
# the proxy's SPN host; o{raw}: Kerberos 5 without SPNEGO).
sub tokens {
    my ($user, $n, %o) = @_;
    local $ENV{KRB5_CONFIG} = $KRB5;
    local $ENV{KRB5CCNAME} = "FILE:$cc{$user}";
    my @a = ('-n', $n // 1);
    push @a, '-raw' if $o{raw};
    my $out = `$^X $FindBin::Bin/bin/gss-token @a @{[ $o{host} // $PHOST ]} 2>&1`;
    BAIL_OUT("gss-token $user: $out") if $?;
    return split /\n/, $out;
}
sub token { return (tokens($_[0], 1, @_[1 .. $#_]))[0] }

# ---------------------------------------------------------------------------
# The proxy

my $SAM = '(&(objectCategory=person)(objectClass=user))';
sub scope {
    my ($name, @lines) = @_;
    return join "\n", qq{<Proxy "http://$origin/s/$name/*">},
        qq{    ProxyAuthRealm "Negotiate $name"}, map({ "    $_" } @lines),
        '</Proxy>', '';
}
my $conf = <<"EOC"
LogFormat "%h %u %>s \\"%r\\" %{proxyauth-result}n %{proxyauth-scheme}n" negfmt
CustomLog "\@DIR\@/access_log" negfmt
ProxyRequests On
ProxyVia Off
AllowCONNECT @{[ (split /:/, $origin)[1] ]}
ExtendedStatus On
<Location "/server-status">
    SetHandler server-status
</Location>
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthLDAPURL "ldaps://$IP/$BASE?sAMAccountName?sub?$SAM"
    ProxyAuthLDAPBindDN "@{[ $dc->svc_dn ]}"
    ProxyAuthLDAPBindPassword "@{[ $dc->svc_pw ]}"
    ProxyAuthLDAPCACertificate "$dc->{ca}"
    ProxyAuthLDAPTimeout 5
    ProxyAuthNegotiate On
    ProxyAuthKeytab "$KT"
</Proxy>
EOC
  . scope('neg')
  . scope('neg-only', 'ProxyAuthBasic Off')
  . scope('neg-group', qq{Require proxy-ldap-group "$GROUP"})
  . scope('neg-filter', qq{ProxyAuthLDAPURL "ldaps://$IP/$BASE?sAMAccountName?sub?(memberOf=$GROUP)"})
  . scope('neg-upn', qq{ProxyAuthLDAPURL "ldaps://$IP/$BASE?userPrincipalName?sub?(objectClass=user)"})
  . scope('neg-princ', "ProxyAuthNegotiatePrincipal HTTP/$PHOST\@$REALM")
  . scope('neg-off', 'ProxyAuthNegotiate Off')
  . scope('neg-enabled', 'Require proxy-ldap-filter "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"');

my $h = httpd_start(conf => $conf);
$PALTest::PROXY_HOSTPORT = "127.0.0.1:$h->{port}";

# ---------------------------------------------------------------------------
# Helpers

my $seq = 0;
sub url {
    my ($scope) = @_;
    return sprintf 'http://%s/s/%s/index.html?neg-%d-%d', $origin, $scope, $$, ++$seq;
}

# get_as($scope, $auth, $ua) -> ($response, $url); $auth is a full
# Proxy-Authorization value or undef.
sub get_as {
    my ($scope, $auth, $ua) = @_;
    my $u = url($scope);
    my @h = defined $auth ? ('Proxy-Authorization' => $auth) : ();
    my $r = $ua ? $ua->request(HTTP::Request->new(GET => $u, \@h))
                : proxy_request(GET => $u, @h);
    return ($r, $u);
}
sub neg { return "Negotiate $_[0]" }

# The access-log line of $url: { user, status, result, scheme }.
sub access_entry {
    my ($url) = @_;
    my $deadline = time + 5;
    while (1) {
        if (open my $fh, '<', "$h->{dir}/access_log") {
            while (my $l = <$fh>) {
                next unless index($l, " \"GET $url ") >= 0;
                chomp $l;
                return { line => $l } unless $l =~ /^(\S+) (\S+) (\d+) "(.*)" (\S+) (\S+)$/;
                return { line => $l, user => $2, status => $3, result => $5, scheme => $6 };
            }
        }
        return {} if time > $deadline;
        sleep 0.05;
    }
}
sub what {
    my ($r, $u) = @_;
    return $r->status_line . ' (access log: ' . (access_entry($u)->{line} // 'none') . ')';
}

sub log_mark { return -s $h->{error_log} || 0 }
sub log_wait {
    my ($off, $re) = @_;
    my $deadline = time + 3;
    while (1) {
        open my $fh, '<', $h->{error_log} or return '';
        seek $fh, $off, 0;
        local $/;
        my $t = <$fh> // '';
        return $t if $t =~ $re || time > $deadline;
        sleep 0.05;
    }
}

# The module's counters on the status page.
sub counters {
    my $ua = LWP::UserAgent->new(timeout => 10, keep_alive => 0);
    $ua->no_proxy;
    my $r = $ua->get("http://127.0.0.1:$h->{port}/server-status?auto");
    my %c;
    for (split /\n/, $r->decoded_content // '') {
        $c{$1} = $2 if /^ProxyAuth(\w+):\s*(\d+)\s*$/;
    }
    return \%c;
}

# ---------------------------------------------------------------------------
# The challenge

{
    my ($r, $u) = get_as('neg', undef);
    is $r->code, 407, 'no credentials: 407' or diag what($r, $u);
    my @ch = $r->header('Proxy-Authenticate');
    is scalar(@ch), 2, 'two Proxy-Authenticate fields' or diag "@ch";
    is $ch[0], 'Negotiate', 'Negotiate first';
    like $ch[1] // '', qr/^Basic realm="Negotiate neg", charset="UTF-8"$/, 'then Basic';

    ($r, $u) = get_as('neg-off', undef);
    is join('|', $r->header('Proxy-Authenticate')), 'Basic realm="Negotiate neg-off", charset="UTF-8"',
        'ProxyAuthNegotiate Off: only Basic';
    ($r, $u) = get_as('neg-off', neg(token('alice')));
    is $r->code, 407, 'ProxyAuthNegotiate Off: a Negotiate token gets 407' or diag what($r, $u);
}

# ---------------------------------------------------------------------------
# A ticket

my $alice_tok = token('alice');
{
    my $c0 = counters();
    my $mark = PALSamba::auth_mark($dc);
    my ($r, $u) = get_as('neg', neg($alice_tok));
    is $r->code, 200, 'alice with a ticket: 200' or diag what($r, $u);
    my $e = access_entry($u);
    is $e->{user}, 'alice', '%u is the directory login';
    is $e->{result}, 'kerberos', 'proxyauth-result kerberos';
    is $e->{scheme}, 'Negotiate', 'proxyauth-scheme Negotiate';
    my $c1 = counters();
    is $c1->{NegotiateAccepted} - $c0->{NegotiateAccepted}, 1, 'status page: one ticket accepted';
    is $c1->{LDAPSearches} - $c0->{LDAPSearches}, 1, 'the mapping: one LDAP search';
    is PALSamba::binds_for($dc, $mark, 'alice'), 0, 'no bind as alice (the DC\'s log)';

    # The mapping is cached: a new ticket of alice costs no LDAP operation.
    ($r, $u) = get_as('neg', neg(token('alice')));
    is $r->code, 200, 'alice again, a new token: 200' or diag what($r, $u);
    my $c2 = counters();
    is $c2->{LDAPSearches} - $c1->{LDAPSearches}, 0, 'the mapping came from the cache: no search';
    is $c2->{LDAPBinds} - $c1->{LDAPBinds}, 0, 'and no bind';
    is $c2->{CacheHits} - $c1->{CacheHits}, 1, 'one cache hit';
}

# A replayed token: refused, across children.
{
    my $off = log_mark();
    my ($r, $u) = get_as('neg', neg($alice_tok));
    is $r->code, 407, 'the same token again (a replay): 407' or diag what($r, $u);
    like log_wait($off, qr/PAL0601/), qr/PAL0601: Negotiate refused: .*replay/i,
        'logged as a replay, in GSSAPI\'s words';
    is scalar(() = $r->header('Proxy-Authenticate')), 2, 'with both challenges';
}

# Raw Kerberos 5 (no SPNEGO) is accepted too.
{
    my ($r, $u) = get_as('neg', neg(token('bob', raw => 1)));
    is $r->code, 200, 'a raw Kerberos 5 token: 200' or diag what($r, $u);
    is access_entry($u)->{user}, 'bob', 'as bob';
}

# Concurrent first requests with tickets (the acceptor's credentials are
# made once per child and shared by its threads): every one 200.
{
    my @toks = (tokens('alice', 8), tokens('bob', 8));
    my @pids;
    for my $i (0 .. $#toks) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my ($r) = get_as('neg', neg($toks[$i]));
            POSIX::_exit($r->code == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    is $bad, 0, scalar(@toks) . ' simultaneous requests with new tickets: all 200';
}

# CONNECT with a ticket.
{
    my ($st, $hdr, $sock) = connect_tunnel($origin, 'Proxy-Authorization' => neg(token('alice')));
    like $st // '', qr{^HTTP/1\.[01] 200}, 'CONNECT with a ticket: 200' or diag $st;
    ($st) = connect_tunnel($origin);
    like $st // '', qr{^HTTP/1\.[01] 407}, 'CONNECT without: 407';
}

# ---------------------------------------------------------------------------
# Groups and the URL filter, for both schemes

{
    my ($r, $u) = get_as('neg-group', neg(token('bob')));
    is $r->code, 200, 'group: bob (direct member) with a ticket: 200' or diag what($r, $u);
    ($r, $u) = get_as('neg-group', neg(token('alice')));
    is $r->code, 403, 'group: alice (nested only) with a ticket: 403' or diag what($r, $u);
    ($r, $u) = get_as('neg-group', basic('bob', $dc->pw('bob')));
    is $r->code, 200, 'group: bob with Basic: 200' or diag what($r, $u);
    ($r, $u) = get_as('neg-group', basic('alice', $dc->pw('alice')));
    is $r->code, 403, 'group: alice with Basic: 403' or diag what($r, $u);

    my $off = log_mark();
    ($r, $u) = get_as('neg-filter', neg(token('carol')));
    is $r->code, 403, 'carol: in the KDC, outside the URL filter: 403' or diag what($r, $u);
    like log_wait($off, qr/PAL0605/), qr/PAL0605: principal "carol\@\Q$REALM\E" .*no directory entry/,
        'logged: no directory entry';
    ($r, $u) = get_as('neg-filter', neg(token('bob')));
    is $r->code, 200, 'bob, inside the filter: 200' or diag what($r, $u);
}

# userPrincipalName and an explicit acceptor principal.
{
    my ($r, $u) = get_as('neg-upn', neg(token('alice')));
    is $r->code, 200, 'userPrincipalName: alice with a ticket: 200' or diag what($r, $u);
    is lc(access_entry($u)->{user} // ''), 'alice@' . $dc->{dns}, '%u is the UPN';
    ($r, $u) = get_as('neg-princ', neg(token('alice')));
    is $r->code, 200, 'ProxyAuthNegotiatePrincipal: 200' or diag what($r, $u);
}

# ---------------------------------------------------------------------------
# Bad tokens: 407 with both challenges and a log line, never a 500

{
    # A ticket for another service: not a key of the proxy's keytab.
    my $off = log_mark();
    my ($r, $u) = get_as('neg', neg(token('alice', host => $dc->spn_host('other'))));
    is $r->code, 407, 'a ticket for HTTP/other: 407' or diag what($r, $u);
    like log_wait($off, qr/PAL0601/), qr/PAL0601: Negotiate refused: token refused: /,
        'logged with GSSAPI\'s reason';

    # A token damaged near its end (the authenticator's cipher text).
    my $raw = decode_base64(token('alice'));
    substr($raw, length($raw) - 20, 1) ^= "\x55";
    $off = log_mark();
    ($r, $u) = get_as('neg', neg(encode_base64($raw, '')));
    is $r->code, 407, 'a corrupted token: 407' or diag what($r, $u);
    like log_wait($off, qr/PAL0601/), qr/PAL0601/, 'logged';

    # NTLM (a type 1 message): not supported, said so.
    $off = log_mark();
    ($r, $u) = get_as('neg', 'Negotiate TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==');
    is $r->code, 407, 'an NTLM token: 407' or diag what($r, $u);
    like log_wait($off, qr/PAL0601/), qr/PAL0601: Negotiate refused: the client offered NTLM, which is not supported/,
        'logged: NTLM is not supported';

    # (A value longer than LimitRequestFieldSize is httpd's 400, before
    # the module; t/unit/unit_negotiate.c tries the 64 KiB limit.)
    for my $bad ('Negotiate', 'Negotiate !!!!', 'Negotiate ' . ('A' x 6000), 'Negotiate YWJj',
                 'Negotiate  YWJj YWJj') {
        ($r, $u) = get_as('neg', $bad);
        is $r->code, 407, 'malformed: "' . substr($bad, 0, 20) . '": 407' or diag what($r, $u);
    }
}

# ProxyAuthBasic Off: Kerberos only.
{
    my $off = log_mark();
    my ($r, $u) = get_as('neg-only', basic('alice', $dc->pw('alice')));
    is $r->code, 407, 'ProxyAuthBasic Off: Basic credentials get 407' or diag what($r, $u);
    is join('|', $r->header('Proxy-Authenticate')), 'Negotiate', 'and only the Negotiate challenge';
    like log_wait($off, qr/PAL0103/), qr/PAL0103: Basic credentials of user "alice" refused/, 'logged';
    ($r, $u) = get_as('neg-only', neg(token('alice')));
    is $r->code, 200, 'ProxyAuthBasic Off: a ticket gets 200' or diag what($r, $u);
}

# ---------------------------------------------------------------------------
# Connection-based: the ticket's connection stays authenticated

{
    my $ua = proxy_ua(keep_alive => 1);
    my ($r, $u) = get_as('neg', neg(token('jdoe')), $ua);
    is $r->code, 200, 'keep-alive: jdoe with a ticket: 200' or diag what($r, $u);
    ($r, $u) = get_as('neg', undef, $ua);
    is $r->code, 200, 'the same connection, no Proxy-Authorization: 200' or diag what($r, $u);
    is $r->header('Client-Response-Num'), 2, 'it was the same connection';
    my $e = access_entry($u);
    is $e->{user}, 'jdoe', 'as jdoe';
    is $e->{result}, 'connection', 'proxyauth-result connection';
    ($r, $u) = get_as('neg', undef, proxy_ua(keep_alive => 1));
    is $r->code, 407, 'a new connection without credentials: 407' or diag what($r, $u);
    ($r, $u) = get_as('neg-off', undef, $ua);
    is $r->code, 407, 'the same connection in a Basic-only scope: 407' or diag what($r, $u);
}

# ---------------------------------------------------------------------------
# A real client: curl --proxy-negotiate, by the SPN's host name

{
    my $hosts = "$dir/hosts";
    open my $fh, '>', $hosts or die;
    print $fh "127.0.0.1 localhost $PHOST\n";
    close $fh;
    my $curl = sub {
        my ($user, @args) = @_;
        local $ENV{KRB5_CONFIG} = $KRB5;
        local $ENV{KRB5CCNAME} = "FILE:$cc{$user}";
        my $cmd = join ' ', map { "'$_'" } 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
            '--max-time', '10', '--proxy-negotiate', '-U', ':',
            '--proxy', "http://$PHOST:$h->{port}", @args;
        my $out = `unshare -m --propagation private sh -c "mount --bind '$hosts' /etc/hosts && exec $cmd" 2>&1`;
        return $out;
    };
    my $u = url('neg');
    is $curl->('bob', $u), '200', 'curl --proxy-negotiate: 200';
    is access_entry($u)->{user}, 'bob', 'as bob';
    is $curl->('bob', '-p', "http://$origin/s/neg/index.html"), '200',
        'curl --proxy-negotiate through a CONNECT tunnel: 200';
}

# ---------------------------------------------------------------------------
# An account disabled in AD after its ticket was issued: the ticket is still
# good (no KDC is asked), the directory says no.

{
    my ($r, $u) = get_as('neg-enabled', neg(token('alice')));
    is $r->code, 200, 'proxy-ldap-filter (not disabled): alice with a ticket: 200' or diag what($r, $u);
    ($r, $u) = get_as('neg-enabled', basic('jdoe', $dc->pw('jdoe')));
    is $r->code, 200, 'proxy-ldap-filter: jdoe with Basic: 200' or diag what($r, $u);
    my $tok = token('bob');
    PALSamba::samba_tool($dc, qw(user disable bob));
    ($r, $u) = get_as('neg-enabled', neg($tok));
    is $r->code, 403, 'bob disabled after his ticket was issued: 403' or diag what($r, $u);
    PALSamba::samba_tool($dc, qw(user enable bob));
}

# ---------------------------------------------------------------------------
# The keytab replaced while the proxy runs (the service account's password
# changed: a new key version): children pick the new keys up at their next
# token, no restart; tickets for the old key are refused.

{
    my $old = token('carol');
    my $pw2 = 'Proxy-Http-Rotated-' . $$ . '!';
    PALSamba::samba_tool($dc, 'user', 'setpassword', 'proxy', "--newpassword=$pw2");
    my $kvno = PALSamba::ldb_get($dc, 'proxy', 'msDS-KeyVersionNumber')->{'msDS-KeyVersionNumber'};
    PALSamba::keytab($dc, 'proxy', "$dir/new.keytab", password => $pw2);
    chown 0, $gid, "$dir/new.keytab";
    chmod 0640, "$dir/new.keytab";
    rename "$dir/new.keytab", $KT or die "rename: $!";
    # a new ticket for the proxy: carol's cache is made again
    unlink $cc{carol};
    my ($ok, $out) = PALSamba::kinit($dc, 'carol', $cc{carol});
    ok $ok, 'kinit carol again' or diag $out;
    my ($r, $u) = get_as('neg', neg(token('carol')));
    is $r->code, 200, "keytab replaced (kvno $kvno): a ticket for the new key: 200" or diag what($r, $u);
    my $off = log_mark();
    ($r, $u) = get_as('neg', neg($old));
    is $r->code, 407, 'a ticket for the old key: 407' or diag what($r, $u);
    like log_wait($off, qr/PAL0601/), qr/PAL0601: Negotiate refused: token refused/, 'logged';
}

# ---------------------------------------------------------------------------
# LDAP down: a cached mapping still works, an uncached one is 503

{
    # Tokens first: making them needs the KDC (service tickets are cached);
    # alice's cache is made again, its ticket was for the replaced key.
    unlink $cc{alice};
    my ($ok, $out) = PALSamba::kinit($dc, 'alice', $cc{alice});
    ok $ok, 'kinit alice again' or diag $out;
    my ($alice2) = tokens('alice', 1);
    my ($carol2) = tokens('carol', 1);
    kill 'TERM', $dc->{pid};
    waitpid $dc->{pid}, 0;
    delete $dc->{pid};
    my ($r, $u) = get_as('neg', neg($alice2));
    is $r->code, 200, 'DC stopped: alice (mapping cached) with a ticket: 200' or diag what($r, $u);
    ($r, $u) = get_as('neg-princ', neg($carol2));
    is $r->code, 503, 'DC stopped: carol (not cached in that scope) with a ticket: 503' or diag what($r, $u);
}

# ---------------------------------------------------------------------------
# Start-up errors (apache2 -t)

{
    my $base = "User nobody\nGroup " . getgrgid($gid) . "\n"
             . qq{<Proxy "*">\n ProxyAuthLDAP On\n ProxyAuthLDAPURL "ldap://127.0.0.1/dc=x"\n};
    my @cases = (
        ['ProxyAuthNegotiate On', qr/PAL0020: ProxyAuthNegotiate On needs ProxyAuthKeytab/,
         'no keytab'],
        ["ProxyAuthNegotiate On\n ProxyAuthKeytab $dir/missing.keytab",
         qr/PAL0020: ProxyAuthKeytab \S+ is not a readable file/, 'a missing keytab'],
        ["ProxyAuthNegotiate On\n ProxyAuthKeytab $dir/private.keytab",
         qr/PAL0020: ProxyAuthKeytab \S+ cannot be read by the child processes' user nobody/,
         'a keytab only root can read'],
        ["ProxyAuthNegotiate On\n ProxyAuthKeytab $KT\n ProxyAuthNegotiatePrincipal HTTP/nope.example\@$REALM",
         qr/PAL0020: ProxyAuthKeytab \S+: the keytab holds no key for HTTP\/nope/,
         'a principal the keytab does not hold'],
        ["ProxyAuthNegotiate On\n ProxyAuthKeytab $KT\n ProxyAuthNegotiatePrincipal HTTP/nope.example",
         qr/ProxyAuthNegotiatePrincipal: "HTTP\/nope.example" is not a principal with its realm/,
         'a principal without its realm'],
        ['ProxyAuthBasic Off', qr/PAL0020: ProxyAuthBasic Off without ProxyAuthNegotiate On/,
         'Basic Off without Negotiate'],
    );
    system('cp', $KT, "$dir/private.keytab");
    chmod 0600, "$dir/private.keytab";
    for my $c (@cases) {
        my ($code, $out) = httpd_configtest("$base $c->[0]\n</Proxy>\n");
        isnt $code, 0, "apache2 -t fails: $c->[2]";
        like $out, $c->[1], "and names the problem: $c->[2]";
    }
    my ($code, $out) = httpd_configtest("$base ProxyAuthNegotiate On\n ProxyAuthKeytab $KT\n</Proxy>\n");
    is $code, 0, 'apache2 -t passes with a readable keytab' or diag $out;
}

is httpd_stop($h), 0, 'the proxy exits 0 on SIGTERM' or diag "httpd: $h->{status_text}";
done_testing();
