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
use File::Spec;
use File::Temp ();

my $tmp = File::Temp::tempdir('cfg70-XXXXXX',
                              DIR => ($ENV{PAL_TMP} && -d $ENV{PAL_TMP})
                                     ? $ENV{PAL_TMP} : File::Spec->tmpdir,
                              CLEANUP => 1);
chmod 0755, $tmp;

sub write_file {
    my ($name, $text) = @_;
    my $f = "$tmp/$name";
    open my $fh, '>', $f or die "write $f: $!";
    print {$fh} $text;
    close $fh or die "close $f: $!";
    return $f;
}

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

# check($name, $conf, ok => 1|0, like => [qr..], unlike => [qr..])
#   ok => 1: exit 0 and "Syntax OK"; ok => 0: non-zero exit, no "Syntax OK",
#   and not httpd's "Invalid command" (an unknown directive is not the
#   refusal being tested). Every like pattern must match the output, no
#   unlike pattern may.
sub check {
    my ($name, $conf, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = httpd_configtest($conf);
    my @why;
    if ($o{ok}) {
        push @why, "exit code $rc, expected 0" if $rc != 0;
        push @why, 'no "Syntax OK"' if $out !~ /Syntax OK/;
    }
    else {
        push @why, 'exit code 0, expected non-zero' if $rc == 0;
        push @why, '"Syntax OK" in the output' if $out =~ /Syntax OK/;
        push @why, 'unknown directive ("Invalid command")' if $out =~ /Invalid command/;
    }
    for my $re (@{ $o{like} || [] }) {
        push @why, "output does not match $re" if $out !~ $re;
    }
    for my $re (@{ $o{unlike} || [] }) {
        push @why, "output matches $re" if $out =~ $re;
    }
    ok(!@why, $name) or diag join('', map { "  $_\n" } @why)
        . "  config:\n" . join('', map { "    $_\n" } split /\n/, $conf)
        . "  output:\n" . join('', map { "    $_\n" } split /\n/, $out);
    return !@why;
}

sub proxy_conf {
    my ($body, $pre) = @_;
    return ($pre // '') . "ProxyRequests On\n<Proxy \"*\">\n$body\n</Proxy>\n";
}

my $secret_file = write_file('cache.secret', "0123456789abcdef0123456789abcdef\n");
my @dir_directives = (
    ['ProxyAuthSessionIdle',           '300'],
    ['ProxyAuthSessionMax',            '3600'],
    ['ProxyAuthNegativeTTL',           '30'],
    ['ProxyAuthMaxBadPasswords',       '3'],
    ['ProxyAuthConnectionAuth',        'Off'],
);

my @refusing = (
    ['<Location "/">',        '</Location>',      'Location'],
    ['<Directory "/">',       '</Directory>',     'Directory'],
    ['<Files "x.html">',      '</Files>',         'Files'],
);
for my $d (@dir_directives) {
    my ($name, $value) = @$d;
    for my $s (@refusing) {
        my ($open, $close, $sect) = @$s;
        check("$name refused in <$sect>",
              "ProxyRequests On\n$open\n$name $value\n$close\n",
              ok => 0, like => [qr/\Q$name\E\b.*<\Q$sect\E/]);
    }
}
# The *Match forms and nesting (one directive each).
check('ProxyAuthLDAP refused in <LocationMatch>',
      "<LocationMatch \"^/\">\nProxyAuthLDAP Off\n</LocationMatch>\n",
      ok => 0, like => [qr/ProxyAuthLDAP\b.*<LocationMatch/]);
check('ProxyAuthLDAPURL refused in <DirectoryMatch>',
      "<DirectoryMatch \"^/\">\nProxyAuthLDAPURL \"$URL\"\n</DirectoryMatch>\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL\b.*<DirectoryMatch/]);
check('ProxyAuthRealm refused in <FilesMatch>',
      "<FilesMatch \"x\">\nProxyAuthRealm x\n</FilesMatch>\n",
      ok => 0, like => [qr/ProxyAuthRealm\b.*<FilesMatch/]);
check('ProxyAuthLDAP refused in <Files> nested in <Proxy "*">',
      "<Proxy \"*\">\n<Files \"x\">\nProxyAuthLDAP Off\n</Files>\n</Proxy>\n",
      ok => 0, like => [qr/ProxyAuthLDAP\b.*<Files/]);
check('ProxyAuthLDAPURL refused in <Location> of a <VirtualHost>',
      "<VirtualHost 127.0.0.1:8080>\n<Location \"/\">\nProxyAuthLDAPURL \"$URL\"\n"
      . "</Location>\n</VirtualHost>\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL\b.*<Location/]);

# Accepted: one config with every directive per scope; when that fails, each
# directive alone shows which ones are refused.
my @accepting = (
    ['<Proxy "*">',            "ProxyRequests On\n<Proxy \"*\">\n%s</Proxy>\n"],
    ['<Proxy "http://*">',     "ProxyRequests On\n<Proxy \"http://*\">\n%s</Proxy>\n"],
    ['<ProxyMatch>',           "ProxyRequests On\n<ProxyMatch \"^(http|https)://\">\n%s</ProxyMatch>\n"],
    ['<VirtualHost>',          "<VirtualHost 127.0.0.1:8080>\nProxyRequests On\n%s</VirtualHost>\n"],
    ['<Proxy "*"> in <VirtualHost>',
     "<VirtualHost 127.0.0.1:8080>\nProxyRequests On\n<Proxy \"*\">\n%s</Proxy>\n</VirtualHost>\n"],
    ['server scope',           "ProxyRequests On\n%s"],
);
for my $s (@accepting) {
    my ($sect, $fmt) = @$s;
    my $all = join '', map { "$_->[0] $_->[1]\n" } @dir_directives;
    my ($rc, $out) = httpd_configtest(sprintf $fmt, $all);
    if ($rc == 0 && $out =~ /Syntax OK/) {
        pass("$_->[0] accepted in $sect") for @dir_directives;
        next;
    }
    for my $d (@dir_directives) {
        check("$d->[0] accepted in $sect", sprintf($fmt, "$d->[0] $d->[1]\n"), ok => 1);
    }
}

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
