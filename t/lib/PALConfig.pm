package PALConfig;

# Helpers for the `apache2 -t` test files (t/70config.t, t/75config_cache.t):
# a temp folder, check() on one throwaway config, and the scope matrix every
# per-directory directive must pass.

use strict;
use warnings;
use Exporter 'import';
use File::Spec;
use File::Temp ();
use Test::More ();
use PALTest qw(httpd_configtest);

our @EXPORT = qw(write_file check proxy_conf scope_checks $tmp);

our $tmp = File::Temp::tempdir('cfg70-XXXXXX',
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
    Test::More::ok(!@why, $name) or Test::More::diag join('', map { "  $_\n" } @why)
        . "  config:\n" . join('', map { "    $_\n" } split /\n/, $conf)
        . "  output:\n" . join('', map { "    $_\n" } split /\n/, $out);
    return !@why;
}

sub proxy_conf {
    my ($body, $pre) = @_;
    return ($pre // '') . "ProxyRequests On\n<Proxy \"*\">\n$body\n</Proxy>\n";
}


# Every directive of @$directives ([name, value] pairs) is refused in
# <Location>, <Directory> and <Files> and accepted in <Proxy>, <ProxyMatch>,
# <VirtualHost> and at server level.
sub scope_checks {
    my ($directives) = @_;
    my @dir_directives = @$directives;
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
            Test::More::pass("$_->[0] accepted in $sect") for @dir_directives;
            next;
        }
        for my $d (@dir_directives) {
            check("$d->[0] accepted in $sect", sprintf($fmt, "$d->[0] $d->[1]\n"), ok => 1);
        }
    }
}

1;
