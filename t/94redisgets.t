# A first login through a remote cache (redis) reads each entry it needs
# once: the positive entry, the name entry, the negative entry and one more
# negative lookup by DN, at most 4 GETs. Every GET is a network round trip
# for every user who is not in the cache yet.
#
# An httpd of this file (PALTest::httpd_start) with ProxyAuthCache
# redis:127.0.0.1:PORT and ProxyAuthCacheSecret file:..., a redis-server and a
# slapd of its own; GETs are counted from redis' INFO commandstats
# (cmdstat_get calls=) around one request.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

my $libexec = `'${\( $ENV{APXS} || 'apxs' )}' -q LIBEXECDIR 2>/dev/null` // '';
chomp $libexec;
my $redis_so = "$libexec/mod_socache_redis.so";
plan skip_all => 'mod_socache_redis.so not found (apxs -q LIBEXECDIR)' unless $libexec && -e $redis_so;
plan skip_all => 'redis-server not installed'
    unless grep { -x "$_/redis-server" } split /:/, $ENV{PATH} // '';
plan tests => 4;

my $origin = origin_hostport();
my $run = "$$-" . int(time);

my $tmp = PALTest::_base_tmp();
my $secret = "$tmp/redisgets-$$.secret";
{
    open my $fh, '>', $secret or die "write $secret: $!";
    open my $ur, '<:raw', '/dev/urandom' or die "urandom: $!";
    read $ur, my $bytes, 32;
    close $ur;
    print {$fh} unpack('H*', $bytes), "\n";
    close $fh or die "close $secret: $!";
    chmod 0600, $secret;
}

my $slapd = slapd_start(tls => 0);
my $lport = $slapd->{ldap_port};
my $redis = redis_start();
my $rport = $redis->{port};
my $px = httpd_start(conf => <<"EOC");
LoadModule socache_redis_module "$redis_so"
ProxyAuthCache redis:127.0.0.1:$rport
ProxyAuthCacheSecret "file:$secret"
LogFormat "%u %>s %{proxyauth-result}n" gets
CustomLog "\@DIR\@/access_log" gets
ProxyRequests On
ProxyVia Off
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthRealm "Redis GETs"
    ProxyAuthLDAPURL "ldap://127.0.0.1:$lport/dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)"
    ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
    ProxyAuthLDAPBindPassword "svc-secret"
    ProxyAuthLDAPTimeout 5
</Proxy>
EOC
local $PALTest::PROXY_HOSTPORT = "127.0.0.1:$px->{port}";

# GET calls redis has served since it started (INFO commandstats).
sub redis_gets {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $rport,
                                  Proto => 'tcp', Timeout => 5)
        or die "redis 127.0.0.1:$rport: $!";
    print {$s} "*2\r\n\$4\r\nINFO\r\n\$12\r\ncommandstats\r\n";
    my $head = <$s> // '';
    my ($len) = $head =~ /^\$(\d+)/ or die "redis INFO: unexpected reply '$head'";
    my $body = '';
    while (length $body < $len) {
        my $n = read $s, $body, $len - length $body, length $body;
        last unless $n;
    }
    close $s;
    return $body =~ /^cmdstat_get:calls=(\d+)/m ? $1 : 0;
}

my $g0 = redis_gets();
my $r = proxy_request(GET => "http://$origin/index.html?first-$run",
                      'Proxy-Authorization' => basic('alice', 'alice-secret'));
my $g1 = redis_gets();
is $r->code, 200, 'alice, never seen: 200' or diag $r->status_line;
my $line = '';
my $deadline = time + 2;
while ($line !~ /\n/ && time < $deadline) {
    if (open my $fh, '<', "$px->{dir}/access_log") { local $/; $line = <$fh> // '' }
    sleep 0.05 unless $line =~ /\n/;
}
like $line, qr/^alice 200 ldap$/m, 'alice: validated by LDAP (a first login)';
cmp_ok $g1 - $g0, '<=', 4, 'the first login read the cache with at most 4 GETs'
    or diag sprintf 'redis GET calls: %d before, %d after', $g0, $g1;

is httpd_stop($px), 0, 'the proxy exits 0 on SIGTERM' or diag "httpd: $px->{status_text}";
redis_stop($redis);
slapd_stop($slapd);
unlink $secret;
