# Configuration checks of the cache directives (SPEC "Cache"): every case runs `apache2 -t` on a small throwaway
# config (PALTest::httpd_configtest: the suite's LoadModule lines plus the
# module) and checks the exit code and that the output names the directive
# and the problem. No request is sent; the suite's httpd is not used.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALConfig;
use File::Spec;
use File::Temp ();

# A CA file that exists (the fixture's, or a stand-in with the same role).
my $ca_file = ($ENV{PAL_CA_FILE} && -r $ENV{PAL_CA_FILE}) ? $ENV{PAL_CA_FILE}
            : do {
                system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                       'ec_paramgen_curve:prime256v1', '-nodes', '-keyout',
                       "$tmp/ca.key", '-out', "$tmp/ca.crt", '-subj', '/CN=PAL 70config',
                       '-days', '1') == 0 or die "openssl failed";
                "$tmp/ca.crt";
            };

my $URL   = 'ldap://127.0.0.1/dc=example,dc=test?uid?sub?(objectClass=*)';
my $LDAPS = 'ldaps://127.0.0.1/dc=example,dc=test?uid?sub';
my $GROUP = 'cn=staff,ou=groups,dc=example,dc=test';

my $secret_file = write_file('cache.secret', "0123456789abcdef0123456789abcdef\n");
my @dir_directives = (
    ['ProxyAuthSessionIdle',           '300'],
    ['ProxyAuthSessionMax',            '3600'],
    ['ProxyAuthNegativeTTL',           '30'],
    ['ProxyAuthMaxBadPasswords',       '3'],
    ['ProxyAuthConnectionAuth',        'Off'],
);

scope_checks(\@dir_directives);

# Server-wide directives: main server only.
check('ProxyAuthCache shmcb accepted in the main server',
      "ProxyRequests On\nProxyAuthCache shmcb\n", ok => 1);
check('ProxyAuthCache "shmcb:@DIR@/pal-cache(1048576)" accepted in the main server',
      "ProxyRequests On\nProxyAuthCache \"shmcb:\@DIR\@/pal-cache(1048576)\"\n", ok => 1);
check('ProxyAuthCacheSecret file: accepted in the main server',
      "ProxyRequests On\nProxyAuthCacheSecret \"file:$secret_file\"\n", ok => 1);
for my $c (['ProxyAuthCache', 'shmcb'], ['ProxyAuthCacheSecret', "\"file:$secret_file\""]) {
    my ($name, $value) = @$c;
    check("$name refused in <VirtualHost>",
          "<VirtualHost 127.0.0.1:8080>\n$name $value\n</VirtualHost>\n",
          ok => 0, like => [qr/\Q$name\E/]);
    check("$name refused in <Proxy \"*\">",
          proxy_conf("$name $value"), ok => 0, like => [qr/\Q$name\E/]);
    check("$name refused in <Location>",
          "<Location \"/\">\n$name $value\n</Location>\n", ok => 0, like => [qr/\Q$name\E/]);
}
check('ProxyAuthCache with an unknown provider: refused',
      "ProxyAuthCache no-such-provider\n", ok => 0,
      like => [qr/ProxyAuthCache/, qr/no-such-provider/]);
check('ProxyAuthCacheSecret file:/nonexistent: refused',
      "ProxyAuthCacheSecret file:/nonexistent\n", ok => 0,
      like => [qr/ProxyAuthCacheSecret/, qr{/nonexistent}]);

# memcache: / redis: demand ProxyAuthCacheSecret (when httpd has the provider).
{
    my ($modules) = (do { local $/; open my $fh, '<', "$FindBin::Bin/conf/pal_base.conf"
                          or die "pal_base.conf: $!"; <$fh> }
                    =~ m{LoadModule\s+socache_shmcb_module\s+"?(\S+?)/mod_socache_shmcb\.so});
    for my $p (['redis', 'redis:127.0.0.1:6379'], ['memcache', 'memcache:127.0.0.1:11211']) {
        my ($prov, $arg) = @$p;
        my $so = $modules ? "$modules/mod_socache_$prov.so" : '';
        SKIP: {
            skip "mod_socache_$prov is not installed", 2 unless $so && -e $so;
            my $load = "LoadModule socache_${prov}_module \"$so\"\n";
            check("ProxyAuthCache $prov: without ProxyAuthCacheSecret: refused",
                  "${load}ProxyRequests On\nProxyAuthCache $arg\n"
                  . proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\""),
                  ok => 0, like => [qr/ProxyAuthCacheSecret/]);
            check("ProxyAuthCache $prov: with ProxyAuthCacheSecret: accepted",
                  "${load}ProxyRequests On\nProxyAuthCache $arg\n"
                  . "ProxyAuthCacheSecret \"file:$secret_file\"\n"
                  . proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\""),
                  ok => 1);
        }
    }
}

# Values of the cache directives.
for my $line ('ProxyAuthSessionIdle abc',
              'ProxyAuthSessionMax -5', 'ProxyAuthNegativeTTL -1',
              'ProxyAuthMaxBadPasswords abc', 'ProxyAuthConnectionAuth maybe') {
    my ($name) = $line =~ /^(\S+)/;
    check("$line: refused, names the directive", proxy_conf($line),
          ok => 0, like => [qr/\Q$name\E/]);
}
check('ProxyAuthNegativeTTL 0 (disables): accepted',
      proxy_conf('ProxyAuthNegativeTTL 0'), ok => 1);


done_testing();
