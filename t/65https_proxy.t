# Basic credentials inside TLS: an HTTPS proxy listener (mod_ssl on the
# proxy's own port, the client speaks TLS to the proxy), as in the README
# section "Securing Basic: an HTTPS proxy listener".
#
# This test's own httpd (PALTest::httpd_start, plus mod_ssl) has three listeners:
#   HTTPS proxy   SSLEngine on with the suite's server certificate, the module
#                 in <Proxy "*">: the listener under test;
#   plain proxy   the same proxy without TLS: the control that shows the
#                 wire check below can fail;
#   TLS origin    a small https:// site, for a CONNECT tunnel that runs TLS
#                 inside the TLS to the proxy.
# The client is curl (--proxy https://..., the way browsers and tools use an
# HTTPS proxy). A perl TCP relay in front of a listener records the bytes the
# proxy's port receives: through the HTTPS listener neither the password nor
# the base64 of user:password is on the wire, through the plain one it is.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use File::Spec;
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(sleep time);

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return '';
    local $/;
    return scalar(<$fh>) // '';
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>:raw', $file or die "write $file: $!";
    print {$fh} $text;
    close $fh or die "close $file: $!";
    chmod 0644, $file;
}

# mod_ssl is not part of the suite's base config: find it where t/TEST.PL
# finds the other modules (apxs -q LIBEXECDIR).
my $libexec = do {
    my $apxs = eval { Apache::Test::vars('apxs') } || 'apxs';
    my $d = `'$apxs' -q LIBEXECDIR 2>/dev/null` // '';
    chomp $d;
    $d || (slurp("$PALTest::TOP/t/conf/pal_base.conf")
           =~ m{^LoadModule\s+mpm_\w+\s+(\S+)/mod_mpm_\w+\.so\s*$}m)[0];
};
my $ssl_so = $libexec ? "$libexec/mod_ssl.so" : '';
plan skip_all => "mod_ssl.so not found in httpd's module folder (apxs -q LIBEXECDIR)"
    unless $ssl_so && -e $ssl_so;
my $curl_v = `curl -V 2>/dev/null` // '';
plan skip_all => 'curl not installed (sh t/deps.sh test installs it)' unless $curl_v;
plan skip_all => 'this curl cannot talk TLS to a proxy (no HTTPS-proxy feature)'
    unless $curl_v =~ /^Features:.*\bHTTPS-proxy\b/m;
plan skip_all => 'PAL_CA_FILE / PAL_TLS_CERT / PAL_TLS_KEY not set (run through t/TEST)'
    unless grep({ $_ && -r $_ } @ENV{qw(PAL_CA_FILE PAL_TLS_CERT PAL_TLS_KEY)}) == 3;

plan tests => 41;

# A proxy named in the environment would be used for 127.0.0.1 or skip --proxy.
delete @ENV{qw(http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY)};

my $USER = 'alice';
my $PASS = 'alice-secret';
my $B64  = encode_base64("$USER:$PASS", '');
my $REALM = 'HTTPS proxy';
my $CHALLENGE = qr/^Proxy-Authenticate: Basic realm="\Q$REALM\E", charset="UTF-8"\r?$/mi;

my $origin = origin_hostport();
my ($origin_port) = $origin =~ /:(\d+)$/;

my $tmp = File::Temp::tempdir('https-proxy-XXXXXX',
                              DIR => ($ENV{PAL_TMP} && -d $ENV{PAL_TMP})
                                     ? $ENV{PAL_TMP} : File::Spec->tmpdir,
                              CLEANUP => 1);
chmod 0755, $tmp;
mkdir "$tmp/tls-htdocs", 0755;
spew("$tmp/tls-htdocs/index.html", "tls-origin-ok\n");

my ($plain_port, $tls_origin_port) = free_ports(2);
my $ldap_url = "ldap://127.0.0.1:$ENV{PAL_LDAP_PORT}/dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)";
my $proxy_scope = <<"EOC";
    ProxyRequests On
    ProxyVia Off
    AllowCONNECT $origin_port $tls_origin_port
    <Proxy "*">
        ProxyAuthLDAP On
        ProxyAuthRealm "$REALM"
        ProxyAuthLDAPURL "$ldap_url"
        ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
        ProxyAuthLDAPBindPassword "svc-secret"
        ProxyAuthLDAPTimeout 2
    </Proxy>
EOC

my $h = eval {
    httpd_start(conf => <<"EOC");
LoadModule ssl_module "$ssl_so"
SSLSessionCache "shmcb:\@DIR\@/ssl_scache(512000)"
LogFormat "%u %>s %m %{proxyauth-result}n" pal
Listen 127.0.0.1:$plain_port
Listen 127.0.0.1:$tls_origin_port

<VirtualHost 127.0.0.1:\@PORT\@>
    SSLEngine on
    SSLCertificateFile "$ENV{PAL_TLS_CERT}"
    SSLCertificateKeyFile "$ENV{PAL_TLS_KEY}"
    CustomLog "\@DIR\@/https_access_log" pal
$proxy_scope
</VirtualHost>

<VirtualHost 127.0.0.1:$plain_port>
    CustomLog "\@DIR\@/plain_access_log" pal
$proxy_scope
</VirtualHost>

<VirtualHost 127.0.0.1:$tls_origin_port>
    SSLEngine on
    SSLCertificateFile "$ENV{PAL_TLS_CERT}"
    SSLCertificateKeyFile "$ENV{PAL_TLS_KEY}"
    DocumentRoot "$tmp/tls-htdocs"
    <Directory "$tmp/tls-htdocs">
        Require all granted
    </Directory>
</VirtualHost>
EOC
};
ok $h, 'an httpd with mod_ssl starts: HTTPS proxy, plain proxy, TLS origin'
    or diag $@;
die "the HTTPS proxy did not start\n" unless $h;
my $https_port = $h->{port};
ok PALTest::wait_for_port($plain_port) && PALTest::wait_for_port($tls_origin_port),
    'the plain proxy and the TLS origin listen';

# ---------------------------------------------------------------------------
# curl(@args) -> { exit, code, connect, headers, body, stderr }
# code is the last response's status, connect the CONNECT response's status
# (000 when there was none); headers hold every response head curl saw, the
# proxy's answer to CONNECT included.
my $n_curl = 0;
sub curl {
    my (@args) = @_;
    my $base = "$tmp/curl-" . ++$n_curl;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', "$base.out" or POSIX::_exit(126);
        open STDERR, '>', "$base.err" or POSIX::_exit(126);
        # -q first: no ~/.curlrc
        exec 'curl', '-q', '-sS', '--max-time', '20', '-D', "$base.head",
             '-o', "$base.body", '-w', '%{http_code} %{http_connect}', @args
            or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my ($code, $connect) = split ' ', slurp("$base.out");
    return { exit => $? >> 8, code => $code // '', connect => $connect // '',
             headers => slurp("$base.head"), body => slurp("$base.body"),
             stderr => slurp("$base.err"), args => "@args" };
}

sub show {
    my ($r) = @_;
    return "curl $r->{args}\nexit $r->{exit}, code $r->{code}, connect $r->{connect}\n"
         . "stderr: $r->{stderr}\nheaders:\n$r->{headers}";
}

my @via_https = ('--proxy', "https://127.0.0.1:$https_port", '--proxy-cacert', $ENV{PAL_CA_FILE});
my @cred = ('--proxy-user', "$USER:$PASS");
my $URL = "http://$origin/index.html";
my $TLS_URL = "https://127.0.0.1:$tls_origin_port/index.html";

# ---------------------------------------------------------------------------
# 1. The HTTPS listener is an authenticating proxy like the plain one.

my $r = curl(@via_https, $URL);
is $r->{code}, '407', 'HTTPS proxy, no credentials: 407' or diag show($r);
like $r->{headers}, $CHALLENGE, 'HTTPS proxy, no credentials: the Basic challenge';

$r = curl(@via_https, @cred, $URL);
is $r->{code}, '200', 'HTTPS proxy, alice: 200' or diag show($r);
is $r->{body}, "origin-ok\n", "HTTPS proxy, alice: the origin's body";

$r = curl(@via_https, '--proxy-user', "$USER:not-$PASS", $URL);
is $r->{code}, '407', 'HTTPS proxy, wrong password: 407' or diag show($r);
like $r->{headers}, $CHALLENGE, 'HTTPS proxy, wrong password: the Basic challenge';

# The proxy named by a host name, as clients configure it: the certificate
# must carry that name (localhost is in its SAN), and mod_ssl must not
# compare the SNI name with the Host of the proxied request.
$r = curl('--proxy', "https://localhost:$https_port", '--proxy-cacert', $ENV{PAL_CA_FILE},
          '--resolve', "localhost:$https_port:127.0.0.1", @cred, $URL);
is $r->{code}, '200', 'HTTPS proxy named localhost (SNI), alice: 200' or diag show($r);
$r = curl('--proxy', "https://proxy.invalid:$https_port", '--proxy-cacert', $ENV{PAL_CA_FILE},
          '--resolve', "proxy.invalid:$https_port:127.0.0.1", @cred, $URL);
ok $r->{exit} == 60 || $r->{exit} == 35,
    'HTTPS proxy under a name its certificate lacks: curl refuses it (exit 60 or 35)'
    or diag show($r);

# ---------------------------------------------------------------------------
# 2. CONNECT through the HTTPS proxy: the tunnel runs inside the TLS session
# to the proxy; to the TLS origin that is TLS inside TLS.

$r = curl(@via_https, @cred, '--proxytunnel', $URL);
is $r->{connect}, '200', 'CONNECT (http origin) through the HTTPS proxy, alice: 200'
    or diag show($r);
is "$r->{code} $r->{body}", "200 origin-ok\n", 'CONNECT (http origin): the origin answers in the tunnel';

$r = curl(@via_https, '--proxytunnel', $URL);
is $r->{connect}, '407', 'CONNECT (http origin) through the HTTPS proxy, no credentials: 407'
    or diag show($r);
like $r->{headers}, $CHALLENGE, 'CONNECT, no credentials: the Basic challenge';
is $r->{exit}, 56, 'CONNECT, no credentials: curl reports the refused tunnel (exit 56)';

$r = curl(@via_https, @cred, '--cacert', $ENV{PAL_CA_FILE}, $TLS_URL);
is $r->{connect}, '200', 'CONNECT (TLS origin) through the HTTPS proxy, alice: 200'
    or diag show($r);
is "$r->{code} $r->{body}", "200 tls-origin-ok\n", 'CONNECT (TLS origin): TLS inside TLS reaches the origin';

$r = curl(@via_https, '--cacert', $ENV{PAL_CA_FILE}, $TLS_URL);
is $r->{connect}, '407', 'CONNECT (TLS origin) through the HTTPS proxy, no credentials: 407'
    or diag show($r);

$r = curl(@via_https, '--proxy-user', "$USER:not-$PASS", '--cacert', $ENV{PAL_CA_FILE}, $TLS_URL);
is $r->{connect}, '407', 'CONNECT (TLS origin), wrong password: 407' or diag show($r);

# The module decided these requests: its note and r->user are in the log of
# the HTTPS listener (a CONNECT line is written when its tunnel closes).
{
    my $log = "$h->{dir}/https_access_log";
    my $deadline = time + 5;
    my $text;
    while (1) {
        $text = slurp($log);
        last if $text =~ /^alice 200 CONNECT /m || time > $deadline;
        sleep 0.05;
    }
    like $text, qr/^alice 200 GET (?:ldap|cache)$/m, 'access log: alice 200 GET, decided by the module';
    like $text, qr/^alice 200 CONNECT (?:ldap|cache)$/m, 'access log: alice 200 CONNECT, decided by the module';
    like $text, qr/^- 407 CONNECT \S+$/m, 'access log: a CONNECT without credentials got 407';
}

# ---------------------------------------------------------------------------
# 3. The client verifies the proxy: a CA that did not sign its certificate
# fails the handshake, before any credential is sent.

$r = curl('--proxy', "https://127.0.0.1:$https_port", '--proxy-cacert', $ENV{PAL_WRONG_CA_FILE},
          @cred, $URL);
ok $r->{exit} == 60 || $r->{exit} == 35,
    "HTTPS proxy, --proxy-cacert of the wrong CA: handshake fails (curl exit $r->{exit})"
    or diag show($r);
is $r->{code}, '000', 'wrong CA: no HTTP response at all';

# ---------------------------------------------------------------------------
# 4. On the wire. A relay in front of each proxy listener records every byte
# the proxy's port receives from the client.

my @relays;

# relay_start($to_port) -> { pid, port, capture }
sub relay_start {
    my ($to) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                  Listen => 16, ReuseAddr => 1)
        or die "relay listen: $!";
    my $capture = "$tmp/wire-$to.bin";
    spew($capture, '');
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        eval { relay_loop($l, $to, $capture, $parent) };
        POSIX::_exit(0);    # no END blocks of the test in this process
    }
    my $port = $l->sockport;
    close $l;
    my $relay = { pid => $pid, port => $port, capture => $capture };
    push @relays, $relay;
    return $relay;
}

sub relay_loop {
    my ($l, $to, $capture, $parent) = @_;
    open my $cap, '>>:raw', $capture or die "capture: $!";
    $cap->autoflush(1);
    my $sel = IO::Select->new($l);
    my (%peer, %from_client);
    my $drop = sub {
        my ($s) = @_;
        my $p = delete $peer{$s};
        for my $x (grep { defined } $s, $p) {
            $sel->remove($x);
            delete $peer{$x};
            delete $from_client{$x};
            close $x;
        }
    };
    while (getppid() == $parent) {
        for my $s ($sel->can_read(0.5)) {
            if ($s == $l) {
                my $c = $l->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $to,
                                              Proto => 'tcp', Timeout => 5);
                if (!$u) { close $c; next }
                binmode $_ for $c, $u;
                $peer{$c} = $u;
                $peer{$u} = $c;
                $from_client{$c} = 1;
                $sel->add($c, $u);
                next;
            }
            next unless $peer{$s};
            my $n = sysread $s, my $buf, 65536;
            if (!$n) { $drop->($s); next }
            print {$cap} $buf if $from_client{$s};
            my $off = 0;
            while ($off < length $buf) {
                my $w = syswrite $peer{$s}, $buf, length($buf) - $off, $off;
                if (!$w) { $drop->($s); last }
                $off += $w;
            }
        }
    }
}

sub relay_stop {
    my ($relay) = @_;
    my $pid = delete $relay->{pid} or return;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

END { relay_stop($_) for @relays }

my $wire_https = relay_start($https_port);
my $wire_plain = relay_start($plain_port);

$r = curl('--proxy', "https://127.0.0.1:$wire_https->{port}", '--proxy-cacert', $ENV{PAL_CA_FILE},
          @cred, $URL);
is "$r->{code} $r->{body}", "200 origin-ok\n", 'through the relay to the HTTPS proxy: alice, 200'
    or diag show($r);
$r = curl('--proxy', "https://127.0.0.1:$wire_https->{port}", '--proxy-cacert', $ENV{PAL_CA_FILE},
          @cred, '--cacert', $ENV{PAL_CA_FILE}, $TLS_URL);
is "$r->{connect} $r->{code} $r->{body}", "200 200 tls-origin-ok\n",
    'through the relay to the HTTPS proxy: CONNECT to the TLS origin, 200' or diag show($r);

$r = curl('--proxy', "http://127.0.0.1:$wire_plain->{port}", @cred, $URL);
is "$r->{code} $r->{body}", "200 origin-ok\n", 'through the relay to the plain proxy: alice, 200'
    or diag show($r);
$r = curl('--proxy', "http://127.0.0.1:$wire_plain->{port}", @cred, '--cacert', $ENV{PAL_CA_FILE},
          $TLS_URL);
is "$r->{connect} $r->{code} $r->{body}", "200 200 tls-origin-ok\n",
    'through the relay to the plain proxy: CONNECT to the TLS origin, 200' or diag show($r);

my $tls_wire   = slurp($wire_https->{capture});
my $plain_wire = slurp($wire_plain->{capture});
cmp_ok length $tls_wire, '>', 1000, 'the relay saw the HTTPS sessions (' . length($tls_wire) . ' bytes)';
like $tls_wire, qr/\A\x16\x03[\x01-\x04]/, 'HTTPS proxy: the client opened with a TLS handshake record';
unlike $tls_wire, qr/\Q$B64\E/, 'HTTPS proxy: the base64 of alice:alice-secret is not on the wire';
unlike $tls_wire, qr/\Q$PASS\E/, 'HTTPS proxy: the password is not on the wire';
unlike $tls_wire, qr/Proxy-Authorization/i, 'HTTPS proxy: no Proxy-Authorization header in clear';
unlike $tls_wire, qr/CONNECT /, 'HTTPS proxy: the CONNECT request is not in clear either';

# The control: the same check finds the credentials on a plain listener.
like $plain_wire, qr/^Proxy-Authorization: Basic \Q$B64\E\r$/m,
    'plain proxy: Proxy-Authorization: Basic base64(alice:alice-secret) is on the wire';
like $plain_wire, qr/^CONNECT 127\.0\.0\.1:$tls_origin_port HTTP\/1\.1\r$/m,
    'plain proxy: the CONNECT request is in clear';
my $connects_with_b64 = () = $plain_wire =~ /^CONNECT [^\r]*\r\n(?:[^\r]+\r\n)*?Proxy-Authorization: Basic \Q$B64\E\r$/mg;
is $connects_with_b64, 1, "plain proxy: the CONNECT's credentials too (TLS to the origin does not hide them)";

# ---------------------------------------------------------------------------
# 5. Nothing crashed, and the error log holds no password.
{
    my $text = slurp($h->{error_log});
    unlike $text, qr/\Q$PASS\E|\Q$B64\E/, 'error log: no password';
    unlike $text, qr/exit signal|AH00052|Segmentation/, 'error log: no crashed child';
}

relay_stop($_) for @relays;
is httpd_stop($h), 0, 'the HTTPS proxy exits 0 on SIGTERM' or diag "httpd: $h->{status_text}";
ok !PALTest::wait_for_port($https_port, 0), 'the HTTPS proxy stopped';
