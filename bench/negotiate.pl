#!/usr/bin/perl
# Negotiate (Kerberos) throughput of mod_proxyauth_ldap against mod_auth_gssapi
# and against its own Basic cache hits, on this machine:
#
#   make bench-negotiate            3 runs of 5 s per variant (~3 minutes)
#   perl bench/negotiate.pl --quick 1 run of 2 s
#
# Everything runs on 127.0.0.1 with free ports from a 0755 temp folder, and is
# stopped by PID at the end and on Ctrl-C:
#   KDC      MIT krb5kdc, realm BENCH.TEST: users u01..u20 and HTTP/localhost,
#            whose keys go to the proxies' keytab
#   slapd    the same users (the module maps each principal to its entry)
#   origin   an httpd serving a 100-byte object
# Variants (each an httpd forward proxy, mpm_event, 2 processes x 64 threads):
#   (n)  mod_proxyauth_ldap, Negotiate, a new ticket in every request
#   (nr) (n) with MIT's replay cache off (KRB5RCACHETYPE=none): what the
#        replay cache costs
#   (g)  mod_auth_gssapi as proxy authenticator, a new ticket in every request
#   (k)  mod_proxyauth_ldap, Negotiate, one ticket per connection, the other
#        requests without credentials (what browsers do with a Negotiate proxy)
#   (gk) mod_auth_gssapi, GssapiConnectionBound On, the same client as (k)
#   (h)  mod_proxyauth_ldap, Basic cache hits for the same users
# Tokens come from GSSAPI itself (t/bin/gss-token), made before each run and
# each used once; wrk -t2 -c32 sends them (bench/negotiate.lua). Every run
# measures all variants back to back, in an order that alternates from run to
# run; a ratio is paired (two variants of the same run), and each cell is the
# median over the runs with the spread (min-max) of its paired ratios. A run
# with a non-2xx answer is flagged and left out.
# Output: a markdown table on stdout and in bench/out/negotiate.md.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";
use PALTest qw(slapd_start slapd_stop free_ports wait_for_port people_ldif);

use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use File::Temp ();
use Getopt::Long;
use List::Util qw(min max);
use MIME::Base64 qw(encode_base64);
use POSIX qw(setsid);
use Time::HiRes qw(sleep time);

my $BENCH = abs_path($FindBin::Bin);
my $TOP   = abs_path("$BENCH/..");
my %opt = (runs => 3, duration => 5, threads => 2, conns => 32, users => 20,
           out => "$BENCH/out");
GetOptions(\%opt, 'quick', 'runs=i', 'duration=i', 'threads=i', 'conns=i',
           'users=i', 'keep', 'out=s', 'hold=i', 'help') or die "bench: bad options\n";
if ($opt{help}) {
    print "usage: perl bench/negotiate.pl [--quick] [--runs N] [--duration S] "
        . "[--threads N] [--conns N] [--users N] [--keep] [--out DIR] [--hold S]\n"
        . "  --hold S   after setup, print the proxies' ports and keep everything\n"
        . "             running S seconds (to try or profile them by hand)\n";
    exit 0;
}
@opt{qw(runs duration)} = (1, 2) if $opt{quick};

my @VARIANTS = (
    { id => 'n',  name => '(n) mod_proxyauth_ldap, new ticket per request', kind => 'pal' },
    { id => 'nr', name => '(nr) (n) with the replay cache off',              kind => 'pal', env => { KRB5RCACHETYPE => 'none' } },
    { id => 'g',  name => '(g) mod_auth_gssapi, new ticket per request',   kind => 'gssapi' },
    { id => 'k',  name => '(k) mod_proxyauth_ldap, ticket per connection', kind => 'pal', per_conn => 1 },
    { id => 'gk', name => '(gk) mod_auth_gssapi, ticket per connection',   kind => 'gssapi', per_conn => 1 },
    { id => 'h',  name => '(h) mod_proxyauth_ldap, Basic cache hits',      kind => 'pal', basic => 1 },
);

# ---------------------------------------------------------------------------
# Processes

my (%children, $tmp, $slapd, $cleaned);
sub note { print STDERR "bench: @_\n" }
sub spawn {
    my ($name, $log, %env) = (shift, shift, %{ shift() });
    my @cmd = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        setsid();
        %ENV = (%ENV, %env);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec 'setpriv', '--pdeathsig', 'TERM', '--', @cmd or POSIX::_exit(127);
    }
    $children{$pid} = $name;
    return $pid;
}
sub stop_pid {
    my ($pid) = @_;
    return unless $pid && delete $children{$pid};
    PALTest::_stop_pid($pid, 10);
}
sub cleanup {
    return if $cleaned++;
    stop_pid($_) for keys %children;
    slapd_stop($slapd) if $slapd;
    if ($tmp && -d $tmp) { $opt{keep} ? note("kept $tmp") : remove_tree($tmp) }
}
$SIG{INT}  = sub { note('interrupted'); cleanup(); exit 130 };
$SIG{TERM} = sub { cleanup(); exit 143 };
END { my $rc = $?; cleanup(); $? = $rc }

# The file helpers are the suite's.
*slurp = \&PALTest::_slurp;
sub spew { my ($f, $text, $mode) = @_; PALTest::_spew($f, $text, $mode) }
sub tool {
    my ($name) = @_;
    for my $d (split /:/, "$ENV{PATH}:/usr/sbin:/sbin") { return "$d/$name" if -x "$d/$name" }
    return undef;
}
sub must { my (@cmd) = @_; my $out = `@cmd 2>&1`; die "bench: '@cmd' failed:\n$out" if $?; return $out }

my $apxs = tool('apxs') or die "bench: apxs not found (sh t/deps.sh bench)\n";
chomp(my $libexec = `$apxs -q LIBEXECDIR`);
chomp(my $httpd = `$apxs -q SBINDIR`);
chomp(my $target = `$apxs -q TARGET`);
$httpd .= "/$target";
my $module = "$TOP/.libs/mod_proxyauth_ldap.so";
my $wrk = tool('wrk') or die "bench: wrk not found (sh t/deps.sh bench)\n";
-e $module or die "bench: $module not built (make)\n";
-e "$libexec/mod_auth_gssapi.so" or die "bench: mod_auth_gssapi not found (sh t/deps.sh bench)\n";
for (qw(krb5kdc kdb5_util kadmin.local kinit)) { tool($_) or die "bench: $_ not found (sh t/deps.sh bench)\n" }

$tmp = File::Temp::tempdir('pal-negbench-XXXXXX', TMPDIR => 1);
chmod 0755, $tmp;
my %PW = map { sprintf('u%02d', $_) => sprintf('pw-u%02d', $_) } 1 .. $opt{users};
my @USERS = sort keys %PW;
my ($kdc_port, $origin_port, @ports) = free_ports(2 + @VARIANTS);

# ---------------------------------------------------------------------------
# KDC, keytab, tickets

my $krb = "$tmp/krb5";
make_path($krb);
spew("$krb/kdc.conf", <<"EOC");
[kdcdefaults]
	kdc_listen = 127.0.0.1:$kdc_port
	kdc_tcp_listen = 127.0.0.1:$kdc_port
[realms]
	BENCH.TEST = {
		database_name = $krb/principal
		key_stash_file = $krb/stash
		acl_file = $krb/acl
		supported_enctypes = aes256-cts-hmac-sha1-96:normal
	}
[logging]
	kdc = FILE:$krb/kdc.log
EOC
spew("$krb/krb5.conf", <<"EOC");
[libdefaults]
	default_realm = BENCH.TEST
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
[realms]
	BENCH.TEST = {
		kdc = 127.0.0.1:$kdc_port
	}
EOC
spew("$krb/acl", '');
$ENV{KRB5_CONFIG} = "$krb/krb5.conf";
$ENV{KRB5_KDC_PROFILE} = "$krb/kdc.conf";
# A replay cache of this run's own, for both modules' children.
make_path("$tmp/rcache");
chmod 01777, "$tmp/rcache";
must('kdb5_util', 'create', '-s', '-r', 'BENCH.TEST', '-P', "bench-$$");
must('kadmin.local', '-r', 'BENCH.TEST', '-q', "'addprinc -pw $PW{$_} $_'") for @USERS;
must('kadmin.local', '-r', 'BENCH.TEST', '-q', "'addprinc -randkey HTTP/localhost'");
must('kadmin.local', '-r', 'BENCH.TEST', '-q', "'ktadd -k $krb/proxy.keytab HTTP/localhost'");
my $nogroup = getgrgid((getpwnam('nobody'))[3]) // 'nogroup';
if ($> == 0) { chown 0, scalar(getgrnam($nogroup)), "$krb/proxy.keytab" }
chmod 0640, "$krb/proxy.keytab";
spawn('krb5kdc', "$krb/kdc.out", {}, 'krb5kdc', '-n', '-r', 'BENCH.TEST');
wait_for_port($kdc_port, 10) or die "bench: the KDC did not start:\n" . slurp("$krb/kdc.out");
for my $u (@USERS) {
    my $out = `echo '$PW{$u}' | KRB5CCNAME=FILE:$krb/cc-$u kinit $u 2>&1`;
    die "bench: kinit $u: $out" if $?;
}

# tokens($file, $n): $n tokens in $file, the users taking turns, each token
# a fresh GSSAPI context (service tickets come from the caches: no KDC).
sub tokens {
    my ($file, $n) = @_;
    my $per = int($n / @USERS) + 1;
    my @lines;
    for my $u (@USERS) {
        my $out = `KRB5CCNAME=FILE:$krb/cc-$u $^X $TOP/t/bin/gss-token -n $per localhost`;
        die "bench: gss-token $u failed\n" if $?;
        push @lines, [split /\n/, $out];
    }
    my @mixed;
    for my $i (0 .. $per - 1) { push @mixed, map { "Negotiate $_->[$i]" } @lines }
    spew($file, join("\n", @mixed[0 .. $n - 1]) . "\n");
}

# ---------------------------------------------------------------------------
# slapd, origin, proxies

my $slapd_seed = "$tmp/seed.ldif";
spew($slapd_seed, people_ldif(%PW));
$slapd = slapd_start(seed => $slapd_seed, tls => 0);
my $ldap_url = "ldap://127.0.0.1:$slapd->{ldap_port}/ou=people,dc=example,dc=test?uid?one";

my $MODS = join "\n", map { "LoadModule ${_}_module $libexec/mod_$_.so" }
    qw(mpm_event authz_core authz_user authn_core mime proxy proxy_http socache_shmcb);
sub conf_for {
    my ($name, $port, $body) = @_;
    my $d = "$tmp/$name";
    make_path("$d/run");
    my $user = $> == 0 ? "User nobody\nGroup $nogroup" : '';
    spew("$d/httpd.conf", <<"EOC");
$MODS
ServerRoot "$d"
ServerName 127.0.0.1
PidFile "$d/run/httpd.pid"
DefaultRuntimeDir "$d/run"
ErrorLog "$d/error_log"
LogLevel warn
TypesConfig /dev/null
$user
Listen 127.0.0.1:$port
StartServers 2
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 1
MaxSpareThreads 128
KeepAliveTimeout 30
MaxKeepAliveRequests 0
$body
EOC
    return "$d/httpd.conf";
}
sub start_httpd {
    my ($name, $conf, $port, $env) = @_;
    my $pid = spawn($name, "$tmp/$name.out", { KRB5RCACHEDIR => "$tmp/rcache", %{ $env || {} } },
                    $httpd, '-DFOREGROUND', '-f', $conf);
    wait_for_port($port, 15) or die "bench: $name did not start:\n"
        . slurp("$tmp/$name.out") . slurp("$tmp/$name/error_log");
    return $pid;
}

make_path("$tmp/htdocs");
spew("$tmp/htdocs/obj.txt", 'x' x 99 . "\n");
start_httpd('origin', conf_for('origin', $origin_port, "DocumentRoot \"$tmp/htdocs\"\n"
    . "<Directory \"$tmp/htdocs\">\n    Require all granted\n</Directory>\n"), $origin_port);
my $OBJ = "http://127.0.0.1:$origin_port/obj.txt";

my %body = (
    pal => <<"EOC",
LoadModule proxyauth_ldap_module $module
ProxyRequests On
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthRealm "bench"
    ProxyAuthLDAPURL "$ldap_url"
    ProxyAuthLDAPBindDN cn=proxy-svc,dc=example,dc=test
    ProxyAuthLDAPBindPassword svc-secret
    ProxyAuthNegotiate On
    ProxyAuthKeytab $krb/proxy.keytab
</Proxy>
EOC
    gssapi => <<"EOC",
LoadModule auth_gssapi_module $libexec/mod_auth_gssapi.so
ProxyRequests On
<Proxy "*">
    AuthType GSSAPI
    AuthName "bench"
    GssapiCredStore keytab:$krb/proxy.keytab
    GssapiAllowedMech krb5
    GssapiBasicAuth Off
    \@BOUND\@
    Require valid-user
</Proxy>
EOC
);
my $i = 0;
for my $v (@VARIANTS) {
    $v->{port} = $ports[$i++];
    (my $b = $body{$v->{kind}}) =~ s/\@BOUND\@/$v->{per_conn} ? 'GssapiConnectionBound On' : ''/e;
    $v->{pid} = start_httpd("proxy-$v->{id}", conf_for("proxy-$v->{id}", $v->{port}, $b), $v->{port},
                            $v->{env});
}

# ---------------------------------------------------------------------------
# Runs

my %rate;          # variant id => [req/s per run, undef when flagged]
my %flag;          # variant id => [reason per run]
my $expect = 4000; # tokens per second a variant may use; raised by what runs show

sub write_creds {
    my ($v, $run) = @_;
    my $prefix = "$tmp/tok-$v->{id}-$run";
    if ($v->{basic}) {
        # the same lines for every thread: Basic pairs are meant to repeat
        my $text = join '', map { 'Basic ' . encode_base64("$_:$PW{$_}", '') . "\n" } @USERS;
        spew("$prefix.$_", $text) for 1 .. $opt{threads};
        return $prefix;
    }
    my $per_thread = $v->{per_conn} ? int($opt{conns} / $opt{threads}) + 4
                                    : int($expect * $opt{duration} * 1.5 / $opt{threads});
    tokens("$prefix.$_", $per_thread) for 1 .. $opt{threads};
    return $prefix;
}

sub warm {
    # one request per user through each module variant: the principal's
    # mapping (and the Basic pair) are in the cache before measuring
    my ($v) = @_;
    return unless $v->{kind} eq 'pal';
    for my $u (@USERS) {
        my $h = $v->{basic} ? 'Basic ' . encode_base64("$u:$PW{$u}", '')
              : 'Negotiate ' . `KRB5CCNAME=FILE:$krb/cc-$u $^X $TOP/t/bin/gss-token localhost`;
        chomp $h;
        my $code = `curl -s -o /dev/null -w '%{http_code}' -x http://127.0.0.1:$v->{port} -H 'Proxy-Authorization: $h' $OBJ`;
        die "bench: warming $v->{id} with $u: HTTP $code\n" unless $code eq '200';
    }
}

sub run_wrk {
    my ($v, $prefix) = @_;
    local %ENV = %ENV;
    $ENV{BENCH_TARGET} = $OBJ;
    $ENV{BENCH_DIR} = $BENCH;
    $ENV{BENCH_TOKENS} = $prefix;
    $ENV{BENCH_FIRST_ONLY} = $v->{per_conn} ? int($opt{conns} / $opt{threads}) : 0;
    if ($v->{basic}) { $ENV{BENCH_CYCLE} = 1 } else { delete $ENV{BENCH_CYCLE} }
    my $out = `$wrk -t$opt{threads} -c$opt{conns} -d$opt{duration}s --latency -s $BENCH/negotiate.lua http://127.0.0.1:$v->{port}/ 2>&1`;
    my %r = $out =~ /(\w+)=(\d+)/g;
    return (undef, "wrk failed: $out") unless $out =~ /^BENCH /m && $r{duration_us};
    my $bad = ($r{status} // 0) + ($r{connect} // 0) + ($r{read} // 0) + ($r{write} // 0) + ($r{timeout} // 0);
    my $rate = $r{requests} / ($r{duration_us} / 1e6);
    return ($rate, $bad ? "$r{status} non-2xx, " . ($bad - $r{status}) . ' socket errors' : undef);
}

warm($_) for @VARIANTS;
if ($opt{hold}) {
    note("holding $opt{hold} s: KRB5_CONFIG=$krb/krb5.conf, ccaches $krb/cc-USER, "
         . join(', ', map { "$_->{id} 127.0.0.1:$_->{port}" } @VARIANTS) . ", object $OBJ");
    sleep $opt{hold};
}
my @order = @VARIANTS;
for my $run (1 .. $opt{runs}) {
    my @o = $run % 2 ? @order : reverse @order;
    for my $v (@o) {
        my $prefix = write_creds($v, $run);
        my ($rate, $why) = run_wrk($v, $prefix);
        push @{ $rate{$v->{id}} }, $why ? undef : $rate;
        push @{ $flag{$v->{id}} }, $why;
        note(sprintf "run %d %-3s %8.0f req/s%s", $run, $v->{id}, $rate // 0, $why ? " FLAGGED: $why" : '');
        $expect = max($expect, int(($rate // 0) * 1.2)) unless $v->{basic} || $v->{per_conn};
        unlink glob("$prefix.*") unless $v->{basic};
    }
}

# ---------------------------------------------------------------------------
# Report

sub median { my @s = sort { $a <=> $b } grep { defined } @_; return undef unless @s; return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }
sub paired {
    my ($x, $y) = @_;
    my @r;
    for my $k (0 .. $opt{runs} - 1) {
        my ($a, $b) = ($rate{$x}[$k], $rate{$y}[$k]);
        push @r, $a / $b if defined $a && defined $b && $b > 0;
    }
    return @r ? sprintf('%.2f (%.2f-%.2f, %d runs)', median(@r), min(@r), max(@r), scalar @r) : 'n/a';
}
my $md = sprintf "# Negotiate throughput\n\n%d run%s of %d s per variant (wrk -t%d -c%d, 100-byte origin object, %d users), %s, load average %s.\n\n",
    $opt{runs}, $opt{runs} == 1 ? '' : 's', $opt{duration}, $opt{threads}, $opt{conns}, scalar @USERS,
    scalar(localtime), join(' ', (split ' ', slurp('/proc/loadavg'))[0 .. 2]);
$md .= "| variant | req/s (median) | runs (req/s) |\n|---|---|---|\n";
for my $v (@VARIANTS) {
    my @r = @{ $rate{$v->{id}} || [] };
    $md .= sprintf "| %s | %s | %s |\n", $v->{name},
        defined median(@r) ? sprintf('%.0f', median(@r)) : 'n/a',
        join(' ', map { defined $_ ? sprintf('%.0f', $_) : 'flagged' } @r);
}
$md .= "\nPaired ratios (median, min-max):\n\n";
$md .= "- (n) / (g), a new ticket per request, module / mod_auth_gssapi: " . paired('n', 'g') . "\n";
$md .= "- (n) / (nr), the replay cache's cost (a ticket per request, with / without it): " . paired('n', 'nr') . "\n";
$md .= "- (k) / (gk), a ticket per connection, module / mod_auth_gssapi: " . paired('k', 'gk') . "\n";
$md .= "- (n) / (h), Negotiate with a new ticket per request / Basic cache hits: " . paired('n', 'h') . "\n";
$md .= "- (k) / (h), Negotiate with a ticket per connection / Basic cache hits: " . paired('k', 'h') . "\n";
my @flagged = map { my $v = $_; map { "$v->{id} run " . ($_ + 1) . ": $flag{$v->{id}}[$_]" } grep { $flag{$v->{id}}[$_] } 0 .. $#{ $flag{$v->{id}} } } @VARIANTS;
$md .= "\nFlagged runs (left out): " . (@flagged ? join('; ', @flagged) : 'none') . "\n";
make_path($opt{out});
spew("$opt{out}/negotiate.md", $md);
print $md;
