# A farm of proxies sharing one credential cache through redis (SPEC "Cache",
# ProxyAuthCache redis:host:port / ProxyAuthCacheSecret file:PATH).
#
# Everything here is this test's own: a slapd, a redis-server and four extra
# httpd forward proxies (PALTest::httpd_start, same MPM and modules as the
# suite, plus mod_socache_redis):
#   A, B  same redis, same secret file: a pair validated on A is accepted by
#         B from the cache, with no LDAP operation and with LDAP down;
#   C     same redis, another secret file: cannot use A's entries;
#   D     ProxyAuthCache redis: on a port where nothing listens: every request
#         goes to LDAP, and nothing passes when LDAP is down.
# Then the cache's bytes: tampered values (a flipped byte, values moved to
# other keys) are dropped (PAL0503) and never let anyone in, and no key or
# value holds a password, an unkeyed hash of one, the secret, or a user name
# in a key. The origin is the suite's <VirtualHost origin>.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use Digest::SHA qw(sha256 sha256_hex sha256_base64 sha1 sha1_hex);
use Digest::MD5 qw(md5 md5_hex);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep time);

# ---------------------------------------------------------------------------
# A minimal, binary-safe redis client (RESP2), enough for SCAN/GET/SET/PTTL.
{
    package MiniRedis;
    sub new {
        my ($class, $port) = @_;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 5)
            or die "redis 127.0.0.1:$port: $!";
        binmode $s;
        $s->autoflush(1);
        return bless { s => $s }, $class;
    }
    sub cmd {
        my ($self, @args) = @_;
        my $out = '*' . @args . "\r\n";
        $out .= '$' . length($_) . "\r\n$_\r\n" for @args;
        print { $self->{s} } $out or die "redis write: $!";
        return $self->_reply;
    }
    sub _line {
        my ($self) = @_;
        my $l = readline $self->{s};
        die "redis: connection closed" unless defined $l;
        $l =~ s/\r\n\z//;
        return $l;
    }
    sub _reply {
        my ($self) = @_;
        my $l = $self->_line;
        my $t = substr $l, 0, 1, '';
        return $l if $t eq '+';
        die "redis error: $l\n" if $t eq '-';
        return 0 + $l if $t eq ':';
        if ($t eq '$') {
            return undef if $l < 0;
            my $buf = '';
            while (length $buf < $l + 2) {
                my $n = read $self->{s}, $buf, $l + 2 - length $buf, length $buf;
                die "redis: short read" unless $n;
            }
            return substr $buf, 0, $l;
        }
        if ($t eq '*') {
            return undef if $l < 0;
            return [ map { $self->_reply } 1 .. $l ];
        }
        die "redis: unexpected reply type '$t'";
    }
    # every key of the db
    sub keys {
        my ($self) = @_;
        my ($cursor, %k) = (0);
        do {
            my $r = $self->cmd(SCAN => $cursor, COUNT => 1000);
            $cursor = $r->[0];
            $k{$_} = 1 for @{ $r->[1] };
        } while ($cursor ne '0');
        return sort keys %k;
    }
    # { key => value } of every key
    sub dump_all {
        my ($self) = @_;
        return { map { ($_ => $self->cmd(GET => $_)) } $self->keys };
    }
    # SET keeping the key's remaining time to live
    sub set_keep_ttl {
        my ($self, $k, $v) = @_;
        my $pttl = $self->cmd(PTTL => $k);
        return $pttl > 0 ? $self->cmd(SET => $k, $v, PX => $pttl)
                         : $self->cmd(SET => $k, $v);
    }
}

# ---------------------------------------------------------------------------

plan skip_all => 'redis-server not installed'
    unless grep { -x "$_/redis-server" } split(/:/, $ENV{PATH} // ''), '/usr/bin';

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return '';
    local $/;
    return scalar(<$fh>) // '';
}

# mod_socache_redis: in httpd's module folder (apxs -q LIBEXECDIR), where
# t/TEST.PL also found the MPM module of the base config.
my $libexec = do {
    my $apxs = eval { Apache::Test::vars('apxs') } || 'apxs';
    my $d = `'$apxs' -q LIBEXECDIR 2>/dev/null` // '';
    chomp $d;
    $d || (slurp("$PALTest::TOP/t/conf/pal_base.conf")
           =~ m{^LoadModule\s+mpm_\w+\s+(\S+)/mod_mpm_\w+\.so\s*$}m)[0];
};
my $redis_so = $libexec ? "$libexec/mod_socache_redis.so" : '';
plan skip_all => 'mod_socache_redis.so not found (apxs -q LIBEXECDIR)'
    unless $redis_so && -e $redis_so;

plan tests => 64;

my $t0 = time;
my $origin = origin_hostport();
my $URL = "http://$origin/index.html";

my $tmp = File::Temp::tempdir('farm-XXXXXX',
                              DIR => ($ENV{PAL_TMP} && -d $ENV{PAL_TMP})
                                     ? $ENV{PAL_TMP} : File::Spec->tmpdir,
                              CLEANUP => 1);
chmod 0755, $tmp;

sub write_secret {
    my ($name) = @_;
    open my $r, '<:raw', '/dev/urandom' or die "urandom: $!";
    read $r, my $bytes, 32;
    close $r;
    my $f = "$tmp/$name";
    open my $fh, '>', $f or die "write $f: $!";
    print {$fh} unpack('H*', $bytes), "\n";
    close $fh or die "close $f: $!";
    chmod 0600, $f;
    return $f;
}
my $secret_ab = write_secret('farm-ab.secret');
my $secret_c  = write_secret('farm-c.secret');

my $slapd = slapd_start(tls => 0);
my $ldap_port = $slapd->{ldap_port};
my $redis = redis_start();
my $rport = $redis->{port};
my $dead_redis_port = free_port();

sub proxy_conf {
    my ($cache, $secret_file) = @_;
    my $secret = $secret_file ? "ProxyAuthCacheSecret \"file:$secret_file\"\n" : '';
    return <<"EOC";
LoadModule socache_redis_module "$redis_so"
ProxyAuthCache $cache
$secret
LogFormat "%u %>s %{proxyauth-result}n" farm
CustomLog "\@DIR\@/access_log" farm
ProxyRequests On
ProxyVia Off
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthRealm "Farm"
    ProxyAuthLDAPURL "ldap://127.0.0.1:$ldap_port/dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)"
    ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
    ProxyAuthLDAPBindPassword "svc-secret"
    ProxyAuthLDAPTimeout 2
</Proxy>
EOC
}

my %px;
my $started = eval {
    $px{A} = httpd_start(conf => proxy_conf("redis:127.0.0.1:$rport", $secret_ab));
    $px{B} = httpd_start(conf => proxy_conf("redis:127.0.0.1:$rport", $secret_ab));
    $px{C} = httpd_start(conf => proxy_conf("redis:127.0.0.1:$rport", $secret_c));
    1;
};
ok $started, 'proxies A, B (same redis, same secret) and C (other secret) start'
    or diag $@;
my $d_started = eval {
    $px{D} = httpd_start(conf => proxy_conf("redis:127.0.0.1:$dead_redis_port", $secret_ab));
    1;
};
ok $d_started, 'proxy D starts with ProxyAuthCache redis: where nothing listens'
    or diag $@;
die "the farm proxies did not start\n" unless $started;

my $rc = MiniRedis->new($rport);
is $rc->cmd('PING'), 'PONG', 'own redis answers';

# req($proxy, $user, $pass) -> HTTP::Response through that proxy
sub req {
    my ($name, $user, $pass) = @_;
    local $PALTest::PROXY_HOSTPORT = "127.0.0.1:$px{$name}{port}";
    return proxy_request(GET => $URL,
                         defined $user ? ('Proxy-Authorization' => basic($user, $pass)) : ());
}

# LDAP operations of $code->() on our slapd
sub ops {
    my ($code) = @_;
    my $c0 = monitor_counts($ldap_port);
    my @ret = $code->();
    my $c1 = monitor_counts($ldap_port);
    return ({ bind   => $c1->{bind} - $c0->{bind},
              search => $c1->{search} - $c0->{search} }, @ret);
}

# The access log lines of a proxy ("user status result"), waiting up to 2 s
# for at least $n of them.
sub access_lines {
    my ($name, $n) = @_;
    my $f = "$px{$name}{dir}/access_log";
    my $deadline = time + 2;
    while (1) {
        my @l = split /\n/, slurp($f);
        return @l if @l >= $n || time > $deadline;
        sleep 0.02;
    }
}
my %seen_lines;
# the next access log line of that proxy
sub next_access {
    my ($name) = @_;
    my $i = $seen_lines{$name}++;
    my @l = access_lines($name, $i + 1);
    return $l[$i] // '(no access log line)';
}

# The kind letter of the socache id in a redis key ('?' if it is not one).
sub kind_of {
    my ($k) = @_;
    my ($hex) = $k =~ /([0-9A-Fa-f]{132})\z/;
    return ($hex ? pack('H*', $hex) : '') =~ /\A.([PNXA])/s ? $1 : '?';
}

sub log_size { my ($name) = @_; return -s $px{$name}{error_log} || 0 }
sub log_since {
    my ($name, $off) = @_;
    open my $fh, '<', $px{$name}{error_log} or return '';
    seek $fh, $off, 0;
    local $/;
    return scalar(<$fh>) // '';
}

# ---------------------------------------------------------------------------
# 1. slapd up: A validates alice; B accepts her from the shared cache.

my ($o, $r) = ops(sub { req(A => 'alice', 'alice-secret') });
is $r->code, 200, 'A: alice validated (200)';
like $r->content, qr/origin-ok/, 'A: origin body';
cmp_ok $o->{bind}, '>=', 1, 'A: alice went to LDAP (at least one bind)';
cmp_ok $o->{bind}, '<=', 2, 'A: at most the service bind and the user bind';
is next_access('A'), 'alice 200 ldap', 'A: access log: alice 200 ldap';

($o, $r) = ops(sub { req(A => 'alice', 'alice-secret') });
is $r->code, 200, 'A: alice again (200)';
is $o->{bind} + $o->{search}, 0, 'A: second request without LDAP';
is next_access('A'), 'alice 200 cache', 'A: access log: alice 200 cache';

($o, $r) = ops(sub { req(B => 'alice', 'alice-secret') });
is $r->code, 200, 'B: alice accepted (200), validated on A';
is $o->{bind}, 0, 'B: no LDAP bind for alice';
is $o->{search}, 0, 'B: no LDAP search for alice';
is next_access('B'), 'alice 200 cache', 'B: access log: alice 200 cache';

# Entries for the byte check below: a wrong password (negative entries).
$r = req(A => 'carol', 'Wr0ng-carol-pass');
is $r->code, 407, 'A: carol with a wrong password: 407';
next_access('A');
# ... which B answers from the shared negative entry.
($o, $r) = ops(sub { req(B => 'carol', 'Wr0ng-carol-pass') });
is $r->code, 407, 'B: the same wrong password of carol: 407';
is $o->{bind} + $o->{search}, 0, 'B: without LDAP (negative entry made by A)';
like next_access('B'), qr/^\S+ 407 negative$/, 'B: access log: 407 negative';

# D: the cache is unreachable, so every request is validated by LDAP.
SKIP: {
    skip 'proxy D did not start', 4 unless $d_started;
    ($o, $r) = ops(sub { req(D => 'alice', 'alice-secret') });
    is $r->code, 200, 'D (redis unreachable): alice validated against LDAP (200)';
    cmp_ok $o->{bind}, '>=', 1, 'D: it asked LDAP';
    ($o, $r) = ops(sub { req(D => 'alice', 'alice-secret') });
    is $r->code, 200, 'D: alice again (200)';
    cmp_ok $o->{bind}, '>=', 1, 'D: asked LDAP again (an unreachable cache is a miss)';
}

# ---------------------------------------------------------------------------
# 2. The cache's bytes.

my $all = $rc->dump_all;
my @keys = sort keys %$all;
cmp_ok scalar(@keys), '>=', 2, 'redis holds entries (' . scalar(@keys) . ' keys)';
note "a redis key: $keys[0]" if @keys;

# Keys: mod_socache_redis writes "<namespace>" + upper-case hex of the socache
# id; the id is a spread byte, one kind letter and 64 lower-case hex digits
# (an HMAC).
{
    my @bad;
    for my $k (@keys) {
        push @bad, "$k: names alice" if $k =~ /alice/i;
        push @bad, "$k: holds alice in hex" if $k =~ /616c696365/i;
        my ($hex) = $k =~ /([0-9A-Fa-f]{132})\z/;
        my $id = $hex ? pack('H*', $hex) : '';
        push @bad, "$k: id is not spread byte + kind + 64 hex"
            unless $id =~ /\A[^\0][PNXA][0-9a-f]{64}\z/s;
        push @bad, "$k: id names alice" if $id =~ /alice/i;
    }
    ok !@bad, 'keys are kind + HMAC, without the user name' or diag join "\n", @bad;
    my %kinds = map { (kind_of($_) => 1) } @keys;
    ok $kinds{P}, 'a positive (P) entry is stored' or diag "kinds: @{[ sort keys %kinds ]}";
    ok $kinds{X}, 'a negative (X) entry is stored' or diag "kinds: @{[ sort keys %kinds ]}";
}

# Values: no password, no unkeyed hash of one, no secret.
{
    my %needles;
    for my $pw ('alice-secret', 'Wr0ng-carol-pass') {
        my %forms = (
            'clear'                => $pw,
            'sha256'               => sha256($pw),
            'sha256 hex'           => sha256_hex($pw),
            'SHA256 HEX'           => uc sha256_hex($pw),
            'sha256 base64'        => sha256_base64($pw),
            'sha1'                 => sha1($pw),
            'sha1 hex'             => sha1_hex($pw),
            'md5'                  => md5($pw),
            'md5 hex'              => md5_hex($pw),
            'base64'               => encode_base64($pw, ''),
        );
        $needles{"$pw $_"} = $forms{$_} for keys %forms;
    }
    for my $up ('alice:alice-secret', 'carol:Wr0ng-carol-pass') {
        $needles{"$up sha256"}        = sha256($up);
        $needles{"$up sha256 hex"}    = sha256_hex($up);
        $needles{"$up SHA256 HEX"}    = uc sha256_hex($up);
        $needles{"$up sha256 base64"} = sha256_base64($up);
        $needles{"$up base64"}        = encode_base64($up, '');
    }
    for my $f ($secret_ab, $secret_c) {
        my $s = slurp($f);
        (my $line = $s) =~ s/\n\z//;
        $needles{"secret file $f"} = $line;
        $needles{"sha256 of secret file $f"} = sha256($s);
        $needles{"sha256 hex of secret file $f"} = sha256_hex($s);
    }
    my @hits;
    for my $k (@keys) {
        my $v = $all->{$k} // '';
        for my $n (sort keys %needles) {
            push @hits, "value of $k holds $n" if index($v, $needles{$n}) >= 0;
            push @hits, "key $k holds $n" if index($k, $needles{$n}) >= 0
                                              || index(lc $k, lc $needles{$n}) >= 0;
        }
    }
    ok !@hits, 'no password, unkeyed password hash or secret in redis ('
        . scalar(keys %needles) . ' forms checked)' or diag join "\n", @hits;
    ok !(grep { !defined $all->{$_} || !length $all->{$_} } @keys),
        'every key holds a string value';
}

# ---------------------------------------------------------------------------
# 3. slapd down: the farm answers from the cache, and only from it.

slapd_stop($slapd);
ok !PALTest::wait_for_port($ldap_port, 0), 'slapd stopped';

$r = req(B => 'alice', 'alice-secret');
is $r->code, 200, 'B, LDAP down: alice accepted from the shared cache (200)';
is next_access('B'), 'alice 200 cache', 'B: access log: alice 200 cache';

$r = req(B => 'bob', 'bob-secret');
is $r->code, 503, 'B, LDAP down: uncached bob: 503';
ok defined $r->header('Retry-After'), 'B: 503 carries Retry-After';
ok !defined $r->header('Proxy-Authenticate'), 'B: 503 carries no Proxy-Authenticate';
is next_access('B'), '- 503 unavailable', 'B: access log: - 503 unavailable';

$r = req(C => 'alice', 'alice-secret');
is $r->code, 503, 'C (other secret), LDAP down: alice not accepted (503)';
is next_access('C'), '- 503 unavailable', 'C: access log: - 503 unavailable';

SKIP: {
    skip 'proxy D did not start', 1 unless $d_started;
    $r = req(D => 'alice', 'alice-secret');
    is $r->code, 503, 'D (redis unreachable), LDAP down: alice not accepted (503)';
}

$r = req(A => 'alice', 'alice-secret');
is $r->code, 200, 'A, LDAP down: alice accepted from the cache (200)';
next_access('A');

# ---------------------------------------------------------------------------
# 4. Tampering. A writable redis must not let anyone in.

# 4a. One byte flipped in the middle of every value (time to live kept).
{
    my $off = log_size('B');
    my $n = 0;
    for my $k ($rc->keys) {
        my $v = $rc->cmd(GET => $k) // next;
        my $i = int(length($v) / 2);
        substr($v, $i, 1) = chr(ord(substr $v, $i, 1) ^ 0x01);
        $rc->set_keep_ttl($k, $v);
        $n++;
    }
    cmp_ok $n, '>=', 2, "4a: flipped one byte in $n values";
    $r = req(B => 'alice', 'alice-secret');
    is $r->code, 503, '4a: B, LDAP down, tampered entry: alice not accepted (503)';
    is next_access('B'), '- 503 unavailable', '4a: B: access log: - 503 unavailable';
    sleep 0.1;
    like log_since('B', $off), qr/PAL0503/, '4a: B logs PAL0503 (integrity check failed)';
}

# 4b. Fresh entries (LDAP back for one validation of alice and of bob on A),
# then values moved between keys: within a kind where there are several keys
# (bob's valid positive entry under alice's key and the other way round),
# else from a key of another kind. Each moved value was valid where it was.
slapd_restart($slapd);
($o, $r) = ops(sub { req(A => 'alice', 'alice-secret') });
is $r->code, 200, '4b: A, LDAP back: alice validated again (200)';
cmp_ok $o->{bind}, '>=', 1, '4b: A asked LDAP (the tampered entry was dropped)';
is next_access('A'), 'alice 200 ldap', '4b: A: access log: alice 200 ldap';
$r = req(A => 'bob', 'bob-secret');
is $r->code, 200, '4b: A: bob validated (200)';
next_access('A');
slapd_stop($slapd);
# Control: the fresh entries work on B before they are moved.
for my $u (qw(alice bob)) {
    $r = req(B => $u, "$u-secret");
    is $r->code, 200, "4b: B, LDAP down: $u accepted from the cache before the move (200)";
    next_access('B');
}
{
    my @k = $rc->keys;
    my %v = map { ($_ => $rc->cmd(GET => $_)) } @k;
    my %by_kind;
    push @{ $by_kind{ kind_of($_) } }, $_ for @k;
    is scalar(@{ $by_kind{P} || [] }), 2, '4b: two positive entries (alice, bob)'
        or diag "keys: @k";
    for my $kind (sort keys %by_kind) {
        my @same = @{ $by_kind{$kind} };
        my @from = @same >= 2 ? @same : grep { kind_of($_) ne $kind } @k;
        for my $i (0 .. $#same) {
            my $src = @same >= 2 ? $same[($i + 1) % @same] : $from[$i % @from];
            $rc->set_keep_ttl($same[$i], $v{$src});
        }
    }
    for my $u (qw(alice bob)) {
        my $off = log_size('B');
        $r = req(B => $u, "$u-secret");
        is $r->code, 503, "4b: B, LDAP down, values moved between keys: $u not accepted (503)";
        is next_access('B'), '- 503 unavailable', "4b: B: access log ($u): - 503 unavailable";
        sleep 0.1;
        my $log = log_since('B', $off);
        like $log, qr/PAL0503/, "4b: B logs PAL0503 (integrity check failed) for $u";
        unlike $log, qr/\Q$u-secret\E/, "4b: the password of $u is not in the error log";
    }
}

# ---------------------------------------------------------------------------
# 5. The error logs hold no password; nothing crashed.
{
    my @bad;
    for my $name (sort keys %px) {
        my $text = slurp($px{$name}{error_log});
        push @bad, "$name: password in error log" if $text =~ /alice-secret|Wr0ng-carol-pass/;
        push @bad, "$name: $1" if $text =~ /^(.*(?:exit signal|AH00052|Segmentation).*)$/m;
    }
    ok !@bad, 'error logs: no password, no crashed child' or diag join "\n", @bad;
}

# ---------------------------------------------------------------------------
{
    my @bad;
    for my $name (sort keys %px) {
        my $status = httpd_stop($px{$name});
        push @bad, "$name: $px{$name}{status_text}" if $status != 0;
    }
    is_deeply \@bad, [], 'farm proxies exit 0 on SIGTERM';
}
ok !(grep { PALTest::wait_for_port($px{$_}{port}, 0) } keys %px), 'farm proxies stopped';
undef $rc;
redis_stop($redis);
ok !PALTest::wait_for_port($rport, 0), 'redis stopped';
slapd_stop($slapd);
ok !PALTest::wait_for_port($ldap_port, 0), 'slapd stopped at the end';
note sprintf 'farm test took %.1f s', time - $t0;
