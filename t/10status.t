# Status codes and headers (SPEC.md "Status codes and headers" and "Details"):
# one or more tests per row of the status table, for the forward-proxy
# requests of the main server (<Proxy "*">, realm "Test proxy").
#
# Accounts: the seed (t/fixtures/seed.ldif) plus a few entries this file adds
# under ou=st-status,dc=example,dc=test (and removes at the end): users whose
# name or password sits exactly at the length limits, and users for the
# wrong-password cases (each gets at most one wrong password, and wrong
# passwords are unique to the run, so the ProxyAuthMaxBadPasswords soft lock
# and the negative cache never decide an answer here). Seed accounts never get
# a wrong password that reaches LDAP, except one each for jürgen and star*user.
#
# Scopes of t/conf/status.conf.in: /s/st-fresh/ (a cache context of its own,
# for answers that must come from LDAP now) and /s/st-cache/ (a slapd this
# file starts and stops on PAL_LDAP_SPARE2_PORT). /s/dead/ marks the dead port
# down for 30 s (SPEC), as any test using it does.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64 decode_base64);
use HTTP::Response;
use Time::HiRes qw(sleep time);

plan tests => 203;

# test names carry UTF-8 ("jürgen")
binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $origin = origin_hostport();
my $CHALLENGE = 'Basic realm="Test proxy", charset="UTF-8"';
my $ALICE_DN = 'uid=alice,ou=people,dc=example,dc=test';
# /s/st-fresh/ (t/conf/status.conf.in): the default scope's directory with a
# realm of its own, i.e. a cache context no other test file uses, for the
# assertions that need an answer decided by LDAP now (result note "ldap", the
# reason in PAL0201) whatever earlier files left in the cache.
my $FRESH = 'st-fresh';
my $FRESH_CHALLENGE = 'Basic realm="Status tests", charset="UTF-8"';
my $OU = 'ou=st-status,dc=example,dc=test';
my $CANARY = 'Zx9-secret-canary';
my $run = "$$-" . int(time);      # makes wrong passwords unique to this run
my $seq = 0;

my $access_log = Apache::Test::vars('t_logs') . '/pal_access_log';
my $error_log  = Apache::Test::vars('t_logs') . '/error_log';

# ---------------------------------------------------------------------------
# Helpers

# A fresh URL on the origin (default scope, or /s/NAME/), with a unique query
# so its access-log line can be found.
sub url {
    my ($scope) = @_;
    my $tag = 't' . ++$seq . "-$run";
    my $path = $scope ? "/s/$scope/index.html" : '/index.html';
    return ("http://$origin$path?$tag", $tag);
}

# Raw header value: "Basic " . base64 of the bytes given.
sub b64hdr { return 'Basic ' . encode_base64($_[0], '') }

sub bytes_of {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

# GET through the proxy; %h are request headers. Returns the HTTP::Response
# (tag_of($r) is the unique query of its URL).
sub get {
    my ($scope, %h) = @_;
    my ($u) = url($scope);
    return proxy_request(GET => $u, %h);
}

sub tag_of { my ($r) = @_; return $r->request ? $r->request->uri->query : '' }

# Bind / search operations the directory completed while $code ran.
sub ldap_ops {
    my ($code) = @_;
    my $a = monitor_counts();
    my @ret = $code->();
    my $b = monitor_counts();
    return ({ bind => $b->{bind} - $a->{bind}, search => $b->{search} - $a->{search} }, @ret);
}

# Every Proxy-Authenticate value of a response (list).
sub pa { my ($r) = @_; my @v = $r->header('Proxy-Authenticate'); return @v }

# A 407 with exactly one Proxy-Authenticate, the main scope's challenge.
sub is_challenge {
    my ($r, $name, $want) = @_;
    $want //= $CHALLENGE;
    my @v = pa($r);
    my $ok = $r->code == 407 && @v == 1 && $v[0] eq $want;
    ok $ok, "$name: 407 + Proxy-Authenticate"
        or diag "got " . $r->code . ", Proxy-Authenticate: "
              . (@v ? join(' | ', map { "[$_]" } @v) : '(none)');
    return $ok;
}

sub is_ok_origin {
    my ($r, $name) = @_;
    my $ok = $r->code == 200 && $r->content =~ /origin-ok/;
    ok $ok, "$name: 200 origin-ok"
        or diag 'got ' . $r->status_line . ' Proxy-Authenticate: ' . join(' | ', pa($r));
    return $ok;
}

# The access-log line of a response's request (or of a tag):
# [host, user, status, request, result, dn]
sub access_entry {
    my ($tag) = @_;
    $tag = tag_of($tag) if ref $tag;
    my $deadline = time + 3;
    while (1) {
        if (open my $fh, '<', $access_log) {
            while (my $l = <$fh>) {
                # the origin logs to the same file: take the proxy's line
                next unless index($l, "?$tag ") >= 0 && index($l, "\"GET http://") >= 0
                         || index($l, "?$tag ") >= 0 && index($l, '"CONNECT ') >= 0;
                chomp $l;
                return [$1, $2, $3, $4, $5, $6]
                    if $l =~ /^(\S+) (\S+) (\d{3}) "(.*)" (\S+) "(.*)"$/;
                return [$l];
            }
        }
        return undef if time > $deadline;
        sleep 0.05;
    }
}

# Error-log text appended by the request(s) run in $code (a moment is given
# for lines written after the response went out).
sub errlog_of {
    my ($code) = @_;
    my $mark = error_log_mark();
    my @ret = $code->();
    sleep 0.1;
    return (error_log_since($mark), @ret);
}

sub pal0201_lines {
    my ($text) = @_;
    return grep { /PAL0201/ } split /\n/, $text;
}

# A raw request over a new socket (for what LWP cannot send, e.g. a repeated
# header); returns an HTTP::Response.
sub raw_request {
    my ($head) = @_;
    my ($host, $port) = split /:/, proxy_hostport();
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp',
                                  Timeout => 10)
        or die "connect to the proxy: $!";
    $s->autoflush(1);
    print {$s} $head;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + 15;
    while ($sel->can_read($deadline - time > 0 ? $deadline - time : 0)) {
        my $n = sysread $s, my $chunk, 65536;
        last unless $n;
        $buf .= $chunk;
        last if time > $deadline;
    }
    close $s;
    my $r = HTTP::Response->parse($buf);
    return $r;
}

# ---------------------------------------------------------------------------
# Test accounts of this file

my $PW1024 = join '', map { chr(33 + ($_ * 7) % 94) } 1 .. 1024;   # printable ASCII
my $PW1025 = $PW1024 . 'Q';
my $U256 = 'st256-' . ('u' x 250);
my $U257 = 'st257-' . ('u' x 251);
my %accounts = (
    'st-pw1'    => 'st-pw1-secret',
    'st-pw2'    => 'st-pw2-secret',
    'st-pw3'    => 'st-pw3-secret',
    'st-pw4'    => 'st-pw4-secret',
    'st-pw1024' => $PW1024,
    'st-pw1025' => $PW1025,
    $U256       => 'st256-secret',
    $U257       => 'st257-secret',
);
# DNs: cn=st-<n>,ou=st-status,... (slapd's mdb refuses RDNs this long as uid=)
my %dn_of;
{
    my $n = 0;
    $dn_of{$_} = 'cn=st-' . ++$n . ",$OU" for sort keys %accounts;
}
sub drop_accounts {
    my ($ldap) = @_;
    my $m = $ldap->search(base => $OU, scope => 'one', filter => '(objectClass=*)', attrs => ['1.1']);
    $ldap->delete($_->dn) for $m->code ? () : $m->entries;
    $ldap->delete($OU);
}
{
    my $ldap = ldap_admin();
    drop_accounts($ldap);
    my $m = $ldap->add($OU, attrs => [objectClass => 'organizationalUnit', ou => 'st-status']);
    die 'add ' . $OU . ': ' . $m->error if $m->code;
    for my $uid (sort keys %accounts) {
        my ($cn) = $dn_of{$uid} =~ /^cn=([^,]+)/;
        $m = $ldap->add($dn_of{$uid}, attrs => [
            objectClass => 'inetOrgPerson', uid => $uid, cn => $cn, sn => 'status',
            userPassword => $accounts{$uid}]);
        die "add $dn_of{$uid}: " . $m->error if $m->code;
    }
    $ldap->unbind;
}
END {
    if (my $ldap = eval { ldap_admin() }) {
        drop_accounts($ldap);
        $ldap->unbind;
    }
}
is length($U256), 256, 'fixture: 256-byte user name';
is length($U257), 257, 'fixture: 257-byte user name';

my $alice_tok = encode_base64('alice:alice-secret', '');
my @sent_tokens;     # every header value carrying the canary (grepped for at the end)

# ---------------------------------------------------------------------------
# Row: no Proxy-Authorization -> 407 + exactly the challenge

{
    my $r = get(undef);
    is_challenge($r, 'no Proxy-Authorization');
    is scalar(() = $r->header('Proxy-Authenticate')), 1, 'no credentials: one Proxy-Authenticate header';
    ok !defined $r->header('WWW-Authenticate'), 'no credentials: no WWW-Authenticate';
    my $e = access_entry($r);
    is_deeply [$e && @$e[1, 2, 4]], ['-', 407, 'denied'],
        'no credentials: access log: no user, 407, result note "denied"';
    # whitespace-only value counts as none
    is_challenge(get(undef, 'Proxy-Authorization' => '   '), 'Proxy-Authorization of spaces only');
}

# Sanity: the right credentials pass (the malformed variants below all carry them).
{
    my $r = get(undef, 'Proxy-Authorization' => basic('alice', 'alice-secret'));
    is_ok_origin($r, 'alice / alice-secret');
    my $e = access_entry($r);
    # (an earlier test file may have left this pair in the cache: ldap or cache)
    is_deeply [@{$e // []}[0 .. 3, 5]],
              ['127.0.0.1', 'alice', 200, "GET http://$origin/index.html?" . tag_of($r) . " HTTP/1.1", $ALICE_DN],
        'alice: access log %u alice, 200, DN';
    like $e && $e->[4], qr/^(?:ldap|cache)$/, 'alice: proxyauth-result ldap (or cache)';
    is_ok_origin(get(undef, 'Proxy-Authorization' => "BASIC $alice_tok"),
                 'scheme name is case-insensitive (BASIC)');
}

# ---------------------------------------------------------------------------
# Row: other scheme than Basic

is_challenge(get(undef, 'Proxy-Authorization' => "Bearer $alice_tok"), 'Bearer scheme');
is_challenge(get(undef, 'Proxy-Authorization' =>
    'Digest username="alice", realm="Test proxy", nonce="abc", uri="/", response="0123456789abcdef0123456789abcdef"'),
    'Digest scheme');
is_challenge(get(undef, 'Proxy-Authorization' => "Basicx $alice_tok"), 'scheme "Basicx"');
is_challenge(get(undef, 'Proxy-Authorization' => $alice_tok), 'bare token without scheme');
is_challenge(get(undef, 'Proxy-Authorization' => 'Basic'), '"Basic" without a token');

# ---------------------------------------------------------------------------
# Row: bad base64 (strict decoding; every variant decodes leniently to alice's
# right credentials, so a lenient decoder would answer 200)

{
    # invalid characters
    (my $bad = $alice_tok) =~ s/^(.{6})./$1*/;
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $bad"), 'bad base64: "*" in the token');
    (my $bad2 = $alice_tok) =~ s/^(.{6})./$1-/;
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $bad2"), 'bad base64: "-" (base64url alphabet)');
    (my $bad3 = $alice_tok) =~ s/^(.{6})./$1_/;
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $bad3"), 'bad base64: "_" (base64url alphabet)');
    is_challenge(get(undef, 'Proxy-Authorization' => 'Basic ' . substr($alice_tok, 0, 12) . ' '
                                                       . substr($alice_tok, 12)),
                 'bad base64: space inside the token');
    is_challenge(get(undef, 'Proxy-Authorization' => 'Basic ' . substr($alice_tok, 0, 12) . "\t"
                                                       . substr($alice_tok, 12)),
                 'bad base64: tab inside the token');

    # padding: "alice:alice-secre" (17 bytes) needs one '='; "alice:alice-secr" two
    my $p1 = encode_base64('alice:alice-secre', '');
    like $p1, qr/[^=]=$/, 'fixture: one padding character';
    (my $nopad = $p1) =~ s/=+$//;
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $nopad"), 'bad base64: padding missing');
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $p1="), 'bad base64: extra padding');
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $p1" . 'AAAA'),
                 'bad base64: data after the padding');
    (my $midpad = $alice_tok) =~ s/^(.{8})..../$1====/;
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $midpad"), 'bad base64: "=" in the middle');
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $alice_tok="), 'bad base64: length not a multiple of 4');

    # non-canonical: the unused bits of the last character set
    my @alpha = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '+', '/');
    my %idx = map { $alpha[$_] => $_ } 0 .. 63;
    my $p2 = encode_base64('alice:alice-secr', '');                 # 16 bytes: "=="
    like $p2, qr/==$/, 'fixture: two padding characters';
    for ([$p1, 1, 'one pad'], [$p2, 2, 'two pads']) {
        my ($tok, $npad, $what) = @$_;
        my $pos = length($tok) - $npad - 1;
        my $c = substr($tok, $pos, 1);
        my $nc = $alpha[$idx{$c} | 1];
        (my $t2 = $tok) =~ s/^(.{$pos})./$1$nc/;
        is decode_base64($t2), decode_base64($tok), "fixture: non-canonical ($what) decodes alike leniently";
        is_challenge(get(undef, 'Proxy-Authorization' => "Basic $t2"), "bad base64: non-canonical ($what)");
    }

    # trailing data
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $alice_tok x"), 'trailing data: second word');
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $alice_tok, Basic $alice_tok"),
                 'trailing data: two credentials in one field');
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $alice_tok,"), 'trailing data: comma');
    is_challenge(get(undef, 'Proxy-Authorization' => "Basic $alice_tok realm=\"x\""),
                 'trailing data: auth-param');
    is_ok_origin(get(undef, 'Proxy-Authorization' => "Basic $alice_tok  "),
                 'trailing white space only is not data');
}

# ---------------------------------------------------------------------------
# Rows: no ':', empty user, empty password

is_challenge(get(undef, 'Proxy-Authorization' => b64hdr('alicealice-secret')), "no ':'");
{
    my ($txt, $ops, $r) = errlog_of(sub { ldap_ops(sub { get(undef, 'Proxy-Authorization' => b64hdr(':alice-secret')) }) });
    is_challenge($r, 'empty user');
    is_deeply $ops, { bind => 0, search => 0 }, 'empty user: no LDAP operation';
    is scalar(() = $txt =~ /PAL0\d{3}.*empty user/g), 1, 'empty user: one error-log line says why';
}
{
    my ($txt, $ops, $r) = errlog_of(sub { ldap_ops(sub { get(undef, 'Proxy-Authorization' => b64hdr('alice:')) }) });
    is_challenge($r, 'empty password');
    is $ops->{bind}, 0, 'empty password: no LDAP bind';
    is $ops->{search}, 0, 'empty password: no LDAP search';
    like $txt, qr/PAL0\d{3}.*empty password/, 'empty password: the error log says why';
    # an empty password after the colon of a user that exists (AD: anonymous bind)
    my ($ops2, $r2) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => b64hdr('st-pw4:')) });
    is_challenge($r2, 'existing user, empty password');
    is $ops2->{bind}, 0, 'existing user, empty password: no LDAP bind';
}

# ---------------------------------------------------------------------------
# Row: user longer than 256 bytes (decoded, as sent)

{
    my ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic($U256, 'st256-secret')) });
    is_ok_origin($r, 'user name of 256 bytes (an existing entry)');
    cmp_ok $ops->{search}, '>=', 1, '256-byte user: searched in LDAP';

    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic('n' x 256, 'whatever-' . $run)) });
    is_challenge($r, 'unknown user name of 256 bytes');
    cmp_ok $ops->{search}, '>=', 1, 'unknown 256-byte user: reaches LDAP (a search)';

    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic($U257, 'st257-secret')) });
    is_challenge($r, 'user name of 257 bytes (the entry exists, password right)');
    is_deeply $ops, { bind => 0, search => 0 }, '257-byte user: no LDAP search nor bind';

    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic('n' x 257, 'whatever')) });
    is_challenge($r, 'unknown user name of 257 bytes');
    is_deeply $ops, { bind => 0, search => 0 }, 'unknown 257-byte user: no LDAP operation';

    # the limit counts bytes: 128 x "ü" is 256 bytes, one more ASCII letter 257
    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic('ü' x 128, 'whatever-' . $run)) });
    is_challenge($r, 'user of 128 "ü" (256 bytes UTF-8)');
    cmp_ok $ops->{search}, '>=', 1, '256 bytes of UTF-8: reaches LDAP';
    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic('ü' x 128 . 'x', 'whatever')) });
    is_challenge($r, 'user of 128 "ü" + "x" (257 bytes, 129 characters)');
    is_deeply $ops, { bind => 0, search => 0 }, '257 bytes of UTF-8: no LDAP operation';
}

# ---------------------------------------------------------------------------
# Row: password longer than 1024 bytes, or containing NUL

{
    is length($PW1024), 1024, 'fixture: 1024-byte password';
    my ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic('st-pw1024', $PW1024)) });
    is_ok_origin($r, 'password of 1024 bytes (right)');
    cmp_ok $ops->{bind}, '>=', 1, '1024-byte password: bound in LDAP';

    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => basic('st-pw1025', $PW1025)) });
    is_challenge($r, 'password of 1025 bytes (the directory has exactly this password)');
    is_deeply $ops, { bind => 0, search => 0 }, '1025-byte password: no LDAP operation';

    # NUL: a module that cut at the NUL would bind with "alice-secret" and let it in
    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => b64hdr("alice:alice-secret\0x")) });
    is_challenge($r, 'password "alice-secret\\0x" (NUL)');
    is $ops->{bind}, 0, 'NUL in password: no LDAP bind';
    ($ops, $r) = ldap_ops(sub { get(undef, 'Proxy-Authorization' => b64hdr("alice:\0")) });
    is_challenge($r, 'password of one NUL byte');
    is $ops->{bind}, 0, 'password of one NUL: no LDAP bind';
    is_challenge(get(undef, 'Proxy-Authorization' => b64hdr("alice\0:alice-secret")), 'NUL in the user name');
    # binds send the exact length: a right password plus a trailing byte is wrong
    is_challenge(get(undef, 'Proxy-Authorization' => basic('st-pw1024', $PW1024 . 'x')),
                 '1025-byte password that begins with the right 1024 bytes');
}

# ---------------------------------------------------------------------------
# Row: several Proxy-Authorization headers (raw: LWP would merge them)

{
    my $h = "Basic $alice_tok";
    my $req = "GET http://$origin/index.html?raw-$run HTTP/1.1\r\nHost: $origin\r\n"
            . "Proxy-Authorization: $h\r\nProxy-Authorization: $h\r\nConnection: close\r\n\r\n";
    my $r = raw_request($req);
    is_challenge($r, 'two Proxy-Authorization headers (both alice, valid)');

    $req = "GET http://$origin/index.html?raw2-$run HTTP/1.1\r\nHost: $origin\r\n"
         . "Proxy-Authorization: $h\r\nProxy-Authorization: Bearer x\r\nConnection: close\r\n\r\n";
    is_challenge(raw_request($req), 'two Proxy-Authorization headers (alice + Bearer)');

    # the same, raw, with one header: 200 (the raw client itself works)
    $req = "GET http://$origin/index.html?raw3-$run HTTP/1.1\r\nHost: $origin\r\n"
         . "Proxy-Authorization: $h\r\nConnection: close\r\n\r\n";
    is_ok_origin(raw_request($req), 'raw request with one Proxy-Authorization header');
}

# ---------------------------------------------------------------------------
# Rows decided by LDAP: unknown user, several entries, wrong password; with
# one PAL0201 line each, naming the reason

{
    my ($txt, $r) = errlog_of(sub { get(undef, 'Proxy-Authorization' => basic("nosuch-$run", "pw-$run")) });
    is_challenge($r, 'unknown user');
    my @l = pal0201_lines($txt);
    is scalar(@l), 1, 'unknown user: one PAL0201 line';
    like $l[0] // '', qr/"nosuch-\Q$run\E".*unknown user/, 'unknown user: reason named';

    ($txt, $r) = errlog_of(sub { get($FRESH, 'Proxy-Authorization' => basic('dup', 'dup1')) });
    is_challenge($r, 'dup / dup1 (two entries)', $FRESH_CHALLENGE);
    @l = pal0201_lines($txt);
    is scalar(@l), 1, 'dup: one PAL0201 line';
    like $l[0] // '', qr/"dup".*several/, 'dup: reason "several entries" named';
    is_challenge(get(undef, 'Proxy-Authorization' => basic('dup', 'dup2')), 'dup / dup2 (two entries)');

    ($txt, $r) = errlog_of(sub { get(undef, 'Proxy-Authorization' => basic('st-pw1', "wrong-$run")) });
    is_challenge($r, 'wrong password');
    @l = pal0201_lines($txt);
    is scalar(@l), 1, 'wrong password: one PAL0201 line';
    like $l[0] // '', qr/"st-pw1".*bad password/, 'wrong password: reason "bad password" named';
    is_ok_origin(get(undef, 'Proxy-Authorization' => basic('st-pw1', 'st-pw1-secret')),
                 'the same user with the right password');

    # a user name with '"' and '\' is escaped in the error log
    ($txt, $r) = errlog_of(sub { get(undef, 'Proxy-Authorization' => basic('q"u\\ote', "pw-$run")) });
    is_challenge($r, 'unknown user q"u\\ote');
    @l = pal0201_lines($txt);
    # the module escapes (ap_escape_logitem), httpd's error log escapes '\' again
    like $l[0] // '', qr/user "q\\+"u\\+ote" failed/, 'user name escaped in the error log ("q\"u\\ote")';
}

# Unknown user and wrong password are answered alike.
{
    my $r1 = get(undef, 'Proxy-Authorization' => basic("nosuch2-$run", "pw-$run"));
    my $r2 = get(undef, 'Proxy-Authorization' => basic('st-pw2', "wrong-$run"));
    my $names = sub {
        my ($r) = @_;
        return [sort grep { !/^(?:date|client-.*)$/ } map { lc } $r->headers->header_field_names];
    };
    is $r1->code, 407, 'unknown user: 407';
    is $r2->code, 407, 'wrong password: 407';
    is_deeply $names->($r1), $names->($r2), 'unknown user / wrong password: same header names'
        or diag "unknown: @{$names->($r1)}\nwrong: @{$names->($r2)}";
    is_deeply [pa($r1)], [pa($r2)], 'unknown user / wrong password: same Proxy-Authenticate';
    is $r1->content, $r2->content, 'unknown user / wrong password: same body';
}

# ---------------------------------------------------------------------------
# "Details": user names with leading/trailing white space, control characters,
# invalid UTF-8 -> 407 (with alice's right password: slapd's matching rules
# ignore surrounding spaces and would find alice)

{
    my @cases = (
        [' alice',        'leading space'],
        ['alice ',        'trailing space'],
        ["alice\t",       'trailing tab'],
        ["\talice",       'leading tab'],
        ["ali\x01ce",     'control character 0x01'],
        ["alice\x7f",     'DEL'],
        ["alice\r\n",     'CR LF'],
        ["ali\xc2\x85ce", 'C1 control U+0085 (NEL)'],
        ["al\xffice",     'invalid UTF-8 byte 0xff'],
        ["alice\xc3",     'truncated UTF-8 sequence'],
        ["\xc1\xa1lice",  'overlong UTF-8'],
        ["alic\xed\xa0\x80", 'UTF-8 surrogate'],
    );
    for (@cases) {
        my ($u, $what) = @$_;
        my $r = get(undef, 'Proxy-Authorization' => b64hdr("$u:alice-secret"));
        is_challenge($r, "user name with $what");
    }
    is_ok_origin(get(undef, 'Proxy-Authorization' => basic('spaced name', 'spaced-secret')),
                 'inner space in a user name is fine ("spaced name")');
}

# ---------------------------------------------------------------------------
# Row: authenticated and allowed -> forwarded, r->user = directory spelling

{
    my $r = get($FRESH, 'Proxy-Authorization' => basic('ALICE', 'alice-secret'));
    is_ok_origin($r, 'ALICE / alice-secret');
    my $e = access_entry($r) // [];
    is $e->[1], 'alice', 'ALICE: %u is the directory spelling "alice"';
    is $e->[4], 'ldap', 'ALICE: proxyauth-result ldap';
    is $e->[5], $ALICE_DN, 'ALICE: proxyauth-dn';

    $r = get(undef, 'Proxy-Authorization' => basic('jürgen', 'pässwörd'));
    is_ok_origin($r, 'jürgen / pässwörd (UTF-8)');
    $e = access_entry($r) // [];
    is $e->[1], 'j\xc3\xbcrgen', 'jürgen: %u (escaped by httpd)';
    is $e->[5], 'uid=j\xc3\xbcrgen,ou=people,dc=example,dc=test', 'jürgen: proxyauth-dn (escaped by httpd)';

    is_challenge(get(undef, 'Proxy-Authorization' => basic('jürgen', 'passwörd')),
                 'jürgen with a wrong UTF-8 password');
    # Latin-1 bytes are not the UTF-8 password
    is_challenge(get(undef, 'Proxy-Authorization' => b64hdr("j\xfcrgen:p\xe4ssw\xf6rd")),
                 'jürgen / pässwörd in Latin-1 bytes');

    $r = get(undef, 'Proxy-Authorization' => basic('colon', 'pa:ss:word'));
    is_ok_origin($r, "colon / pa:ss:word (':' in the password)");
    $e = access_entry($r) // [];
    is $e->[1], 'colon', 'colon: %u';
}

# ---------------------------------------------------------------------------
# LDAP filter metacharacters are escaped (RFC 4515)

{
    my ($txt, $r);
    ($txt, $r) = errlog_of(sub { get(undef, 'Proxy-Authorization' => basic('star*user', 'star-secret')) });
    is_ok_origin($r, 'star*user / star-secret (exactly that entry)');
    my $e = access_entry($r) // [];
    is $e->[1], 'star*user', 'star*user: %u';
    is $e->[5], 'uid=star*user,ou=people,dc=example,dc=test', 'star*user: proxyauth-dn';

    # an unescaped (uid=star*user) would also match starbuser: "several entries"
    ($txt, $r) = errlog_of(sub { get(undef, 'Proxy-Authorization' => basic('star*user', "wrong-$run")) });
    is_challenge($r, 'star*user / wrong password');
    like join("\n", pal0201_lines($txt)), qr/bad password/, 'star*user / wrong: a bad password (one entry found)';
    is_challenge(get(undef, 'Proxy-Authorization' => basic('star*user', 'starb-secret')),
                 "star*user with starbuser's password");

    my @inject = (
        ['*',                     'alice-secret'],
        ['*',                     'star-secret'],
        ['a*',                    'alice-secret'],
        ['al*ce',                 'alice-secret'],
        ['alice)(uid=*',          'alice-secret'],
        ['*)(uid=*))(|(uid=*',    'alice-secret'],
        ['alice)(|(objectClass=*', 'alice-secret'],
        ['alice\\00',             'alice-secret'],
        ['alic\\65',              'alice-secret'],
        ['\\61lice',              'alice-secret'],
        ['alice*',                'alice-secret'],
        ['(uid=alice)',           'alice-secret'],
    );
    for (@inject) {
        my ($u, $p) = @$_;
        my ($t, $rr) = errlog_of(sub { get($FRESH, 'Proxy-Authorization' => basic($u, $p)) });
        is_challenge($rr, "injection: user '$u' / $p", $FRESH_CHALLENGE);
        my @l = pal0201_lines($t);
        ok @l == 1 && $l[0] =~ /unknown user/, "injection: '$u' is an unknown user (filter escaped)"
            or diag "PAL0201 lines: " . join("\n", @l);
        my $ae = access_entry($rr) // [];
        isnt $ae->[1] // '', 'alice', "injection: '$u' never logged as alice";
    }
}

# ---------------------------------------------------------------------------
# ProxyAuthRealm as a quoted-string

{
    my $want = 'Basic realm="Say \"hi\" \\\\ there", charset="UTF-8"';
    is_challenge(get('realm'), 'realm with quote and backslash: no credentials', $want);
    is_challenge(get('realm', 'Proxy-Authorization' => basic("nosuch3-$run", "pw-$run")),
                 'realm with quote and backslash: unknown user', $want);
    is_ok_origin(get('realm', 'Proxy-Authorization' => basic('alice', 'alice-secret')),
                 '/s/realm/: alice');
}

# ---------------------------------------------------------------------------
# Row: the directory cannot answer -> 503 + Retry-After, never 407

{
    my ($txt, $r) = errlog_of(sub { get('dead', 'Proxy-Authorization' => basic('alice', 'alice-secret')) });
    is $r->code, 503, '/s/dead/ with alice: 503';
    like $r->header('Retry-After') // '', qr/^\s*\d+\s*$/, '503: Retry-After in seconds';
    is scalar(pa($r)), 0, '503: no Proxy-Authenticate';
    my $e = access_entry($r) // [];
    is_deeply [@$e[2, 4]], [503, 'unavailable'], '503: access log note "unavailable"';
    my @l = pal0201_lines($txt);
    is scalar(@l), 1, '503: one PAL0201 line';
    like $l[0] // '', qr/"alice"/, '503: the PAL0201 line names the user';

    # also for a pair that would be wrong: the directory cannot say so
    $r = get('dead', 'Proxy-Authorization' => basic("nosuch4-$run", "pw-$run"));
    is $r->code, 503, '/s/dead/ with an unknown user: 503 (the directory cannot tell)';
    is scalar(pa($r)), 0, '/s/dead/ unknown user: no Proxy-Authenticate';
    # malformed or missing credentials need no directory: still 407
    is_challenge(get('dead'), '/s/dead/ without credentials');
    is_challenge(get('dead', 'Proxy-Authorization' => b64hdr('alice:')), '/s/dead/ with an empty password');
}

# ---------------------------------------------------------------------------
# Row: authenticated, but Require proxy-ldap-group not met -> 403 (no challenge)

{
    my $r = get('group', 'Proxy-Authorization' => basic('carol', 'carol-secret'));
    is $r->code, 403, '/s/group/ as carol (not a member): 403';
    is scalar(pa($r)), 0, '403: no Proxy-Authenticate';
    my $e = access_entry($r) // [];
    is_deeply [@$e[1, 2, 4]], ['carol', 403, 'denied'], '403: access log carol, 403, denied';
    is_ok_origin(get('group', 'Proxy-Authorization' => basic('alice', 'alice-secret')),
                 '/s/group/ as alice (a member)');
}

# ---------------------------------------------------------------------------
# Row: Proxy-Authorization is never forwarded upstream (unless Proxy-Chain-Auth)
# (the origin echoes what it got in X-Seen-Proxy-Authorization)

{
    my $h = basic('alice', 'alice-secret');
    my $r = get(undef, 'Proxy-Authorization' => $h);
    is $r->code, 200, 'default scope, alice: 200';
    is $r->header('X-Seen-Proxy-Authorization') // '', '', 'default scope: Proxy-Authorization not forwarded';
    $r = get('off', 'Proxy-Authorization' => $h);
    is $r->code, 200, '/s/off/ (ProxyAuthLDAP Off): 200';
    is $r->header('X-Seen-Proxy-Authorization') // '', '', '/s/off/: Proxy-Authorization not forwarded either';
    $r = get('chain', 'Proxy-Authorization' => $h);
    is $r->code, 200, '/s/chain/ (SetEnv Proxy-Chain-Auth): 200';
    is $r->header('X-Seen-Proxy-Authorization') // '', $h, '/s/chain/: Proxy-Authorization forwarded as sent';
}

# ---------------------------------------------------------------------------
# Rows: LDAP down: a pair inside its session window is accepted from the cache;
# a pair that is not in the cache gets 503 (t/conf/status.conf.in: /s/st-cache/)

{
    my $slapd = slapd_start(ports => { ldap => $ENV{PAL_LDAP_SPARE2_PORT},
                                       ldaps => $ENV{PAL_LDAPS_SPARE2_PORT} });
    my $r = get('st-cache', 'Proxy-Authorization' => basic('bob', 'bob-secret'));
    is_ok_origin($r, '/s/st-cache/ bob, directory up');
    is +(access_entry($r) // [])->[4], 'ldap', '/s/st-cache/ bob: validated by LDAP';
    slapd_stop($slapd);
    $r = get('st-cache', 'Proxy-Authorization' => basic('bob', 'bob-secret'));
    is_ok_origin($r, '/s/st-cache/ bob again, directory down: accepted from the cache');
    my $e = access_entry($r) // [];
    is_deeply [@$e[1, 4]], ['bob', 'cache'], 'directory down: access log bob, note "cache"';
    $r = get('st-cache', 'Proxy-Authorization' => basic('alice', 'alice-secret'));
    is $r->code, 503, '/s/st-cache/ alice (never validated), directory down: 503';
    is scalar(pa($r)), 0, 'directory down, pair not cached: no Proxy-Authenticate';
    ok defined $r->header('Retry-After'), 'directory down, pair not cached: Retry-After';
}

# ---------------------------------------------------------------------------
# 407 decided by LDAP in the access log: note "denied", no user

{
    my $r = get(undef, 'Proxy-Authorization' => basic('st-pw3', "wrong-$run"));
    is $r->code, 407, 'wrong password (st-pw3): 407';
    my $e = access_entry($r) // [];
    is_deeply [@$e[1, 2, 4]], ['-', 407, 'denied'], '407 (bad password): access log "-", 407, denied';
}

# ---------------------------------------------------------------------------
# The password never reaches a log

{
    my @canary_hdrs = (
        ['unknown user',        basic("nosuch5-$run", $CANARY)],
        ['bad password',        basic('st-pw4', $CANARY)],
        ['several entries',     basic('dup', $CANARY)],
        ['directory down',      undef],
        ['NUL in password',     b64hdr("alice:$CANARY\0")],
        ['empty user',          b64hdr(":$CANARY")],
        ['user with control',   b64hdr("al\x01ice:$CANARY")],
        ['trailing data',       basic('alice', $CANARY) . ' x'],
        ['non-Basic scheme',    "Bearer $CANARY"],
        ['two tokens',          basic('alice', $CANARY) . ', ' . basic('alice', $CANARY)],
    );
    for (@canary_hdrs) {
        my ($what, $h) = @$_;
        my $scope;
        if (!defined $h) { $h = basic('alice', $CANARY); $scope = 'dead' }
        push @sent_tokens, $h =~ /(\S{12,})/g;
        my $r = get($scope, 'Proxy-Authorization' => $h);
        like $r->code, qr/^(?:407|503)$/, "canary ($what): refused";
    }
    sleep 0.3;
    my $all_err = do { local $/; open my $fh, '<', $error_log or die; <$fh> };
    my $all_acc = do { local $/; open my $fh, '<', $access_log or die; <$fh> };
    ok index($all_err, $CANARY) < 0, 'the password is nowhere in the error log';
    ok index($all_acc, $CANARY) < 0, 'the password is nowhere in the access log';
    my @leak = grep { index($all_err, $_) >= 0 || index($all_acc, $_) >= 0 }
               grep { $_ ne 'Basic' && $_ ne 'Bearer' } @sent_tokens;
    is_deeply \@leak, [], 'no credentials token (base64) in the logs';
    ok index($all_err, 'alice-secret') < 0, "alice's password is nowhere in the error log";
}
