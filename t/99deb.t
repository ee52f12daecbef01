# The Debian package (issue: "installable as a Debian package"): make deb
# builds libapache2-mod-proxyauth-ldap_*.deb from a copy of the sources;
# the package is unpacked with dpkg -x (nothing is installed on this
# machine) and checked: the module, the .load line where a2enmod finds it,
# an inert .conf, the Depends line, the maintainer scripts that enable it,
# and apache2 -t with the packaged module loaded by the packaged .load line.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use File::Temp ();

my $top = "$FindBin::Bin/..";
for my $p (qw(dpkg-buildpackage dh dh_apache2 dpkg-deb)) {
    next if grep { -x "$_/$p" } split(/:/, $ENV{PATH}), qw(/usr/bin /usr/sbin);
    print STDERR "\nt/99deb.t: skipped: $p not found (sh t/deps.sh deb)\n";
    plan skip_all => "$p not found (sh t/deps.sh deb)";
}

my $out = `cd '$top' && make --no-print-directory deb 2>&1`;
is $?, 0, 'make deb succeeds' or diag join "\n", (split /\n/, $out)[-30 .. -1];
my ($deb) = grep { !/dbgsym/ } glob("$top/build/deb/libapache2-mod-proxyauth-ldap_*.deb");
ok $deb && -s $deb, 'build/deb/libapache2-mod-proxyauth-ldap_VERSION_ARCH.deb exists'
    or BAIL_OUT('no package');

my $root = File::Temp::tempdir('deb-XXXXXX', DIR => $ENV{PAL_TMP}, CLEANUP => 1);
system('dpkg-deb', '-x', $deb, $root) == 0 or BAIL_OUT('dpkg-deb -x failed');
my $so   = "$root/usr/lib/apache2/modules/mod_proxyauth_ldap.so";
my $load = "$root/etc/apache2/mods-available/proxyauth_ldap.load";
my $conf = "$root/etc/apache2/mods-available/proxyauth_ldap.conf";
ok -s $so, 'the module is in /usr/lib/apache2/modules/';
ok -s $load, 'proxyauth_ldap.load is in /etc/apache2/mods-available/';
ok -s $conf, 'proxyauth_ldap.conf is in /etc/apache2/mods-available/';
ok -s "$root/usr/share/doc/libapache2-mod-proxyauth-ldap/README.gz", 'the README is in the doc folder';
ok -s "$root/usr/share/doc/libapache2-mod-proxyauth-ldap/examples/proxyauth_ldap_ad.conf",
    'the example configurations are in examples/';

my $load_text = PALTest::_slurp($load);
like $load_text, qr{^LoadModule proxyauth_ldap_module /usr/lib/apache2/modules/mod_proxyauth_ldap\.so$}m,
    'the .load line points at the installed module';
like $load_text, qr/^# Depends: .*\bsocache_shmcb\b/m,
    'a2enmod also enables socache_shmcb (the default cache)';
unlike PALTest::_slurp($conf), qr/^\s*(?:Listen|ProxyAuthLDAP\s+On|<VirtualHost)/mi,
    'the .conf enables nothing by itself (no Listen, no ProxyAuthLDAP On)';

my $fields = `dpkg-deb -f '$deb' Package Depends Architecture`;
like $fields, qr/^Package: libapache2-mod-proxyauth-ldap$/m, 'Package name';
like $fields, qr/^Depends:.*\bapache2-api-\d+/m, 'Depends on the Apache module API (dh_apache2)';
like $fields, qr/^Depends:.*\blibldap-/m, 'Depends on libldap';
like $fields, qr/^Depends:.*\blibgssapi-krb5-2\b/m, 'Depends on libgssapi-krb5-2';
like $fields, qr/^Depends:.*\blibssl/m, 'Depends on libssl';

my $ctl = File::Temp::tempdir('debctl-XXXXXX', DIR => $ENV{PAL_TMP}, CLEANUP => 1);
system('dpkg-deb', '-e', $deb, $ctl) == 0 or BAIL_OUT('dpkg-deb -e failed');
like PALTest::_slurp("$ctl/postinst"), qr/apache2_invoke enmod \$conf/,
    'postinst enables the module (apache2-maintscript-helper)';
like PALTest::_slurp("$ctl/prerm") . PALTest::_slurp("$ctl/postrm"), qr/dismod/,
    'prerm/postrm disable it again';

# apache2 -t with the packaged module, loaded by the packaged .load line
# (its path moved to the unpacked tree) and the packaged .conf, in place of
# the suite's own LoadModule line.
{
    (my $base = PALTest::_slurp("$top/t/conf/pal_base.conf")) =~ s/^LoadModule proxyauth_ldap_module .*$//m;
    (my $l = $load_text) =~ s{/usr/lib/apache2/modules/mod_proxyauth_ldap\.so}{$so}g;
    my $d = File::Temp::tempdir('debcfg-XXXXXX', DIR => $ENV{PAL_TMP}, CLEANUP => 1);
    open my $fh, '>', "$d/httpd.conf" or die;
    print $fh $base, $l, PALTest::_slurp($conf), <<"EOC";
ServerRoot "$d"
ServerName 127.0.0.1
PidFile "$d/httpd.pid"
DefaultRuntimeDir "$d"
ErrorLog "$d/error_log"
TypesConfig /dev/null
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthLDAPURL "ldap://127.0.0.1/dc=example,dc=test"
</Proxy>
EOC
    close $fh;
    my $text = `/usr/sbin/apache2 -t -f '$d/httpd.conf' 2>&1`;
    is $?, 0, 'apache2 -t with the packaged module and its .load line: Syntax OK' or diag $text;
    unlike $text, qr/already loaded/, 'the packaged module is the one loaded';
}

done_testing();
