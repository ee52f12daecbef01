# ProxyAuthLDAPBindPassword exec: (SPEC "Details that users will rely on"):
# a password program that has not finished within 10 s is a startup error
# naming the directive, `apache2 -t` included, instead of holding the start
# for as long as the program hangs.
#
# `apache2 -t` runs here with a deadline of its own (the program sleeps 20 s,
# so an httpd that waits for it would pass the deadline): it runs in a
# session of its own, and at the deadline the whole session is killed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use File::Path qw(remove_tree);
use File::Spec;
use File::Temp ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

plan tests => 5;

my $DEADLINE = 16;    # 10 s of the contract, plus slack for a loaded machine

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return scalar(<$fh>) // '';
}

# configtest($text) -> (exit code or 'killed', output, seconds): like
# PALTest::httpd_configtest, with $DEADLINE.
sub configtest {
    my ($text) = @_;
    my $base = "$PALTest::TOP/t/conf/pal_base.conf";
    my $dir = File::Temp::tempdir('cfg71-XXXXXX',
                                  DIR => ($ENV{PAL_TMP} && -d $ENV{PAL_TMP})
                                         ? $ENV{PAL_TMP} : File::Spec->tmpdir);
    open my $fh, '>', "$dir/httpd.conf" or die "write $dir/httpd.conf: $!";
    print {$fh} slurp($base), <<"EOC", $text, "\n";
ServerRoot "$dir"
ServerName 127.0.0.1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LogLevel info
TypesConfig "$dir/mime.types"
EOC
    close $fh or die "close: $!";
    open my $mt, '>', "$dir/mime.types" or die "write $dir/mime.types: $!";
    close $mt;
    my $httpd = eval { Apache::Test::vars()->{httpd} } || '/usr/sbin/apache2';
    my $t0 = time;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/output" or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec 'setpriv', '--pdeathsig', 'TERM', '--', $httpd, '-t', '-f', "$dir/httpd.conf"
            or POSIX::_exit(127);
    }
    my $rc;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) { $rc = $? >> 8; last }
        if (time - $t0 > $DEADLINE) {
            kill 'KILL', -$pid;
            waitpid $pid, 0;
            $rc = 'killed';
            last;
        }
        sleep 0.05;
    }
    my $dt = time - $t0;
    my $out = slurp("$dir/output");
    remove_tree($dir);
    return ($rc, $out, $dt);
}

sub conf {
    my ($pw) = @_;
    return <<"EOC";
ProxyRequests On
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthLDAPURL "ldap://127.0.0.1/dc=example,dc=test?uid?sub"
    ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
    ProxyAuthLDAPBindPassword "$pw"
</Proxy>
EOC
}

# The control: a slow program that finishes is fine.
{
    my ($rc, $out, $dt) = configtest(conf(q{exec:/bin/sh -c 'sleep 1; echo svc-secret'}));
    ok $rc eq '0' && $out =~ /Syntax OK/, 'exec: program that answers after 1 s: Syntax OK'
        or diag "exit $rc after " . sprintf('%.1f s', $dt) . ":\n$out";
}

{
    my ($rc, $out, $dt) = configtest(conf(q{exec:/bin/sh -c 'sleep 20; echo svc-secret'}));
    ok $rc ne 'killed', sprintf('exec: program sleeping 20 s: apache2 -t ends within %d s', $DEADLINE)
        or diag sprintf('apache2 -t still running after %.1f s (killed); output so far:%s',
                        $dt, $out eq '' ? ' none' : "\n$out");
    ok $rc ne 'killed' && $rc ne '0' && $out !~ /Syntax OK/,
       'exec: program sleeping 20 s: a startup error'
        or diag "exit $rc after " . sprintf('%.1f s', $dt) . ":\n$out";
    like $out, qr/ProxyAuthLDAPBindPassword/, 'the error names ProxyAuthLDAPBindPassword';
    like $out, qr/\b10\s*(?:s\b|sec)/, 'the error says the program did not finish within 10 s';
}
