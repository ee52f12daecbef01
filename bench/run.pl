#!/usr/bin/perl
# Benchmark of mod_proxyauth_ldap against httpd's own LDAP stack and Squid.
#
#   make bench                 5 runs of 8 s per variant and scenario (~25 min)
#   make bench QUICK=1         1 run of 2 s (under a minute)
#   perl bench/run.pl --help   every option
#
# Everything runs on 127.0.0.1 with free ports, from a 0755 temp folder outside
# the checkout, and is stopped by PID at the end and on Ctrl-C:
#   slapd     1000 users (u0001..u1000), cn=Monitor, stats log for bind counts
#   origin    an httpd serving a 100-byte object
#   (a)  httpd forward proxy, no authentication: the ceiling
#   (a2) the same with an explicit worker that keeps upstream connections alive
#   (b)  mod_auth_basic + mod_authnz_ldap + mod_ldap, caches sized for 1000 users
#   (c)  (b) + mod_authn_socache (AuthBasicProvider socache ldap)
#   (d)  Squid with basic_ldap_auth, caching off
#   (e)  mod_proxyauth_ldap with its defaults
#   (e2) (e) with the explicit worker of (a2)
# Every httpd: mpm_event, 2 processes x 64 threads, no access log.
#
# Scenarios (wrk -t2 -c32 with bench/proxy.lua, absolute-form requests):
#   hot       10 users, warm cache                       req/s, ratio to (a)
#   wide      1000 users rotating, every one cached first req/s, ratio to (a)
#   407       no Proxy-Authorization                     407/s, ratio to (b)
#   cold      LDAP operations per first authentication (cn=Monitor)
#   stampede  50 simultaneous first requests for one user: LDAP binds
#   hitpath   the module's hit path alone, no network (bench/hitbench/):
#             ns per cached request, 1 thread and 2 processes x 32 threads
# Every run (repetition) measures each throughput variant once, competitors
# back to back: (a) (e) (b), then (a2) (e2) (d), then (c); the order of the
# groups and within them alternates from run to run. A ratio is paired: the
# two variants of the same run. A cell is the median over the runs, its ratio
# the median of the paired ratios, printed with their spread (min-max). A
# target is "met" when every paired ratio meets it, "MISSED" when none does,
# and "within noise" when the spread straddles the threshold. A run that got
# a non-2xx answer where 2xx was expected (or a 2xx where 407 was expected)
# is flagged and left out.
#
# Output: a markdown table on stdout and in bench/out/results.md, the chart
# bench/out/bench.svg (gnuplot), the raw numbers in bench/out/raw.tsv. The
# load average (/proc/loadavg) before and after the run and each step is in
# results.md: how busy the machine was is measured, not assumed.
# --publish also copies results.md and bench.svg to bench/results/.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";
use PALTest qw(slapd_start slapd_stop free_ports wait_for_port people_ldif);

use Cwd qw(abs_path);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use File::Temp ();
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use List::Util qw(sum max min);
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG setsid);
use Time::HiRes qw(sleep time);

my $BENCH = abs_path($FindBin::Bin);
my $TOP   = abs_path("$BENCH/..");

my %opt = (
    runs      => 5,
    duration  => 8,
    threads   => 2,
    conns     => 32,
    cold      => 100,
    stampede  => 50,
    users     => 1000,
    hot_users => 10,
    out       => "$BENCH/out",
);
GetOptions(\%opt, 'quick', 'runs=i', 'duration=i', 'threads=i', 'conns=i',
           'cold=i', 'stampede=i', 'variants=s', 'scenarios=s', 'keep',
           'publish', 'out=s', 'no-memory', 'hold=i', 'help')
    or die "bench: bad options (see --help)\n";
if ($opt{help}) {
    print <<'EOT';
usage: perl bench/run.pl [options]
  --quick           1 run of 2 s per variant and scenario, 20 cold logins
  --runs N          runs per variant and scenario (default 5)
  --duration S      seconds per wrk run (default 8)
  --threads N, --conns N   wrk -t / -c (default 2 / 32)
  --cold N          first authentications counted for "cold" (default 100)
  --stampede N      simultaneous first requests for one user (default 50)
  --variants LIST   e.g. a,a2,b,c,d,e,e2 (default: all)
  --scenarios LIST  hot,wide,407,cold,stampede,hitpath (default: all)
  --no-memory       skip the shared-memory measurement of (e)
  --hold S          after setup, keep everything running S seconds (profiling)
  --keep            keep the temp folder (configs, logs)
  --publish         copy results.md and bench.svg to bench/results/
  --out DIR         output folder (default bench/out)
EOT
    exit 0;
}
if ($opt{quick}) {
    $opt{runs} = 1;
    $opt{duration} = 2;
    $opt{cold} = 20;
}

# ---------------------------------------------------------------------------
# Variants and scenarios

my @VARIANTS = (
    { id => 'a',  name => '(a) httpd, no auth',            kind => 'httpd', files => ['a.conf.in'] },
    { id => 'a2', name => '(a2) httpd, no auth, reuse',    kind => 'httpd', files => ['a.conf.in', 'reuse.conf.in'] },
    { id => 'b',  name => '(b) httpd authnz_ldap',         kind => 'httpd', auth => 1, files => ['b.conf.in'],
      modules => [qw(auth_basic ldap authnz_ldap)], providers => 'ldap' },
    { id => 'c',  name => '(c) httpd authnz_ldap + authn_socache', kind => 'httpd', auth => 1, files => ['b.conf.in'],
      modules => [qw(auth_basic ldap authnz_ldap authn_socache)], providers => 'socache ldap', authn_cache => 1 },
    { id => 'd',  name => '(d) Squid basic_ldap_auth',     kind => 'squid', auth => 1 },
    { id => 'e',  name => '(e) mod_proxyauth_ldap',        kind => 'httpd', auth => 1, files => ['e.conf.in'], pal => 1 },
    { id => 'e2', name => '(e2) mod_proxyauth_ldap, reuse', kind => 'httpd', auth => 1, files => ['e.conf.in', 'reuse.conf.in'], pal => 1 },
);
my %VAR = map { $_->{id} => $_ } @VARIANTS;
if ($opt{variants}) {
    my %want = map { $_ => 1 } split /,/, $opt{variants};
    $want{a} = 1;    # the ceiling is always measured
    for (keys %want) { die "bench: unknown variant '$_'\n" unless $VAR{$_} }
    @VARIANTS = grep { $want{$_->{id}} } @VARIANTS;
}
my @SCENARIOS = qw(hot wide 407 cold stampede hitpath);
if ($opt{scenarios}) {
    my %want = map { $_ => 1 } split /,/, $opt{scenarios};
    for (keys %want) { my $s = $_; die "bench: unknown scenario '$s'\n" unless grep { $_ eq $s } @SCENARIOS }
    @SCENARIOS = grep { $want{$_} } @SCENARIOS;
}
my %SCEN = map { $_ => 1 } @SCENARIOS;

# ---------------------------------------------------------------------------
# Processes: everything started here is stopped by PID.

my %children;    # pid => name
my $tmp;
my $slapd;
my $cleaned;

sub note { print STDERR "bench: @_\n" }

sub spawn {
    my ($name, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        setsid();    # httpd and squid signal their process group
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        # the child dies with this process, however it dies
        exec 'setpriv', '--pdeathsig', 'TERM', '--', @cmd or POSIX::_exit(127);
    }
    $children{$pid} = $name;
    return $pid;
}

sub stop_pid {
    my ($pid, $timeout) = @_;
    return unless $pid && $children{$pid};
    kill 'TERM', $pid;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $r = waitpid $pid, WNOHANG;
        last if $r == $pid || $r == -1;
        sleep 0.05;
    }
    if (kill 0, $pid) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    delete $children{$pid};
}

sub cleanup {
    return if $cleaned++;
    for my $pid (keys %children) {
        stop_pid($pid, 10);
    }
    slapd_stop($slapd) if $slapd;
    if ($tmp && -d $tmp) {
        if ($opt{keep}) { note("kept $tmp") }
        else            { remove_tree($tmp) }
    }
}
$SIG{INT}  = sub { note('interrupted, stopping everything'); cleanup(); exit 130 };
$SIG{TERM} = sub { cleanup(); exit 143 };
$SIG{HUP}  = sub { cleanup(); exit 129 };
END { my $rc = $?; cleanup(); $? = $rc }

sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; return scalar <$fh> }
sub spew {
    my ($f, $text, $mode) = @_;
    open my $fh, '>', $f or die "write $f: $!";
    print {$fh} $text;
    close $fh or die "close $f: $!";
    chmod $mode, $f if defined $mode;
}
# "1min 5min 15min" from /proc/loadavg, or '?' where there is none.
sub loadavg {
    my @f = split ' ', slurp('/proc/loadavg');
    return @f >= 3 ? "@f[0 .. 2]" : '?';
}
my @load_steps;    # [step, load before, load after]

sub tail_of { my ($f, $n) = @_; my @l = split /\n/, slurp($f); return join("\n", @l > $n ? @l[-$n .. -1] : @l) . "\n" }

sub fill {
    my ($text, %v) = @_;
    $text =~ s/\@([A-Z][A-Z0-9_]*)\@/exists $v{$1} ? $v{$1} : die "bench: no value for \@$1\@\n"/ge;
    return $text;
}

sub tool {
    my ($name, @alts) = @_;
    for my $c ($name, @alts) {
        return $c if $c =~ m{/} && -x $c;
        for my $d (split /:/, "$ENV{PATH}:/usr/sbin:/sbin") { return "$d/$c" if -x "$d/$c" }
    }
    return undef;
}

# ---------------------------------------------------------------------------
# Setup

my $apxs    = tool('apxs') or die "bench: apxs not found (sh t/deps.sh bench)\n";
chomp(my $libexec = `$apxs -q LIBEXECDIR`);
chomp(my $sbindir = `$apxs -q SBINDIR`);
chomp(my $target  = `$apxs -q TARGET`);
my $httpd   = "$sbindir/$target";
my $module  = "$TOP/.libs/mod_proxyauth_ldap.so";
my $wrk     = tool('wrk') or die "bench: wrk not found (sh t/deps.sh bench)\n";
my $squid   = tool('squid');
my $helper  = '/usr/lib/squid/basic_ldap_auth';
my $gnuplot = tool('gnuplot');
my $ldapsearch = tool('ldapsearch') or die "bench: ldapsearch not found (sh t/deps.sh bench)\n";
-x $httpd or die "bench: $httpd not found\n";
-e $module or die "bench: $module not built (make)\n";
if ($VAR{d} && grep { $_->{id} eq 'd' } @VARIANTS) {
    die "bench: squid or $helper not found (sh t/deps.sh bench)\n" unless $squid && -x $helper;
}

my $is_root = $> == 0;
my ($run_user, $run_group) = ('nobody', scalar(getgrgid((getpwnam('nobody'))[3] // 65534)) // 'nogroup');

$tmp = File::Temp::tempdir('pal-bench-XXXXXXXX', TMPDIR => 1, CLEANUP => 0);
chmod 0755, $tmp;
$ENV{PAL_TMP} = $tmp;    # PALTest keeps its slapd folder and ledger there
make_path($opt{out});

my $t_start = time;
my $load_start = loadavg();
note("temp folder $tmp; load average $load_start");

# Users and passwords.
my @USERS = map { sprintf 'u%04d', $_ } 1 .. $opt{users};
my %PW = map { $_ => "pw-$_-secret" } @USERS;
sub basic { my ($u) = @_; return 'Basic ' . encode_base64("$u:$PW{$u}", '') }
my $creds_file = "$tmp/creds.txt";
spew($creds_file, join('', map { basic($_) . "\n" } @USERS), 0644);

# The users of the counting scenarios are never touched before them.
my @cold_users  = @USERS[800 .. 800 + $opt{cold} - 1];    # u0801...
my @conn_users  = @USERS[980 .. 999];                     # u0981..u1000
my @stampede_users = @USERS[949 .. 949 + ($opt{quick} ? 0 : $opt{runs} - 1)];   # u0950...
die "bench: --cold at most 150\n" if $opt{cold} > 150;

# --- slapd ---------------------------------------------------------------------
my $seed = "$tmp/seed.ldif";
spew($seed, people_ldif(%PW), 0644);
# loglevel 256 (stats): one BIND line per bind, to count user binds by DN.
$slapd = slapd_start(seed => $seed, tls => 0, loglevel => 256, timeout => 20);
my $ldap_port = $slapd->{ldap_port};
note("slapd on $ldap_port with " . scalar(@USERS) . " users");

my $bindpw_plain = 'svc-secret';

# --- ports ---------------------------------------------------------------------
my @ports = free_ports(3 + @VARIANTS);
my $origin_port = shift @ports;
my $mem_port    = shift @ports;
my $hit_port    = shift @ports;
$_->{port} = shift @ports for @VARIANTS;
my $TARGET = "http://127.0.0.1:$origin_port/obj.txt";

# --- httpd instances ---------------------------------------------------------------
my $base_tpl = slurp("$BENCH/conf/httpd-base.conf.in");

sub httpd_conf {
    my ($dir, $port, $modules, $body) = @_;
    my $ug = $is_root ? "User $run_user\nGroup $run_group" : '';
    my $mods = join '', map {
        m{/} ? "LoadModule proxyauth_ldap_module $_\n" : "LoadModule ${_}_module $libexec/mod_$_.so\n"
    } @$modules;
    return fill($base_tpl, DIR => $dir, PORT => $port, LIBEXEC => $libexec,
                USER_GROUP => $ug, MODULES => $mods) . "\n" . $body;
}

sub start_httpd {
    my ($name, $dir, $port, $conf) = @_;
    make_path($dir);
    chmod 0755, $dir;
    spew("$dir/httpd.conf", $conf, 0644);
    my $log = "$dir/stdout.log";
    my $pid = spawn($name, $log, $httpd, '-f', "$dir/httpd.conf", '-DFOREGROUND');
    my $deadline = time + 15;
    until (wait_for_port($port, 0)) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $children{$pid};
            die "bench: $name did not start:\n" . tail_of($log, 10) . tail_of("$dir/error_log", 15);
        }
        die "bench: $name not listening on $port\n" . tail_of("$dir/error_log", 15) if time > $deadline;
        sleep 0.05;
    }
    return $pid;
}

sub variant_conf {
    my ($v, $dir, %extra) = @_;
    my @mods = qw(proxy proxy_http);
    push @mods, @{ $v->{modules} // [] };
    push @mods, @{ $extra{modules} // [] };
    push @mods, $module if $v->{pal};
    my %vals = (DIR => $dir, PORT => $v->{port}, ORIGIN_PORT => $origin_port,
                LDAP_PORT => $ldap_port, BIND_PW => $bindpw_plain,
                PROVIDERS => $v->{providers} // 'ldap',
                GLOBAL_EXTRA => $v->{authn_cache}
                    ? "AuthnCacheSOCache \"shmcb:$dir/authn-cache(4000000)\"" : '',
                AUTHN_CACHE => $v->{authn_cache} ? 'AuthnCacheProvideFor ldap' : '');
    my $body = join "\n", map { fill(slurp("$BENCH/conf/$_"), %vals) } @{ $v->{files} };
    $body .= "\n" . ($extra{body} // '');
    return httpd_conf($dir, $v->{port}, \@mods, $body);
}

sub start_variant {
    my ($v) = @_;
    my $dir = "$tmp/$v->{id}";
    make_path($dir);
    chmod 0755, $dir;
    if ($v->{kind} eq 'squid') {
        spew("$dir/bindpw", "$bindpw_plain\n", 0600);
        if ($is_root) {
            my ($uid, $gid) = (getpwnam($run_user))[2, 3];
            chown $uid, $gid, $dir, "$dir/bindpw";
        }
        my $conf = fill(slurp("$BENCH/conf/squid.conf.in"), PORT => $v->{port}, DIR => $dir,
                        USER => $run_user, GROUP => $run_group, HELPER => $helper,
                        LDAP_PORT => $ldap_port);
        spew("$dir/squid.conf", $conf, 0644);
        my $log = "$dir/stdout.log";
        $v->{pid} = spawn($v->{name}, $log, $squid, '-N', '-f', "$dir/squid.conf");
        my $deadline = time + 30;
        until (wait_for_port($v->{port}, 0)) {
            if (waitpid($v->{pid}, WNOHANG) == $v->{pid}) {
                delete $children{$v->{pid}};
                die "bench: squid did not start:\n" . tail_of($log, 10) . tail_of("$dir/cache.log", 20);
            }
            die "bench: squid not listening\n" . tail_of("$dir/cache.log", 20) if time > $deadline;
            sleep 0.1;
        }
        return;
    }
    spew("$dir/bindpw", "$bindpw_plain\n", 0600) if $v->{pal};
    $v->{pid} = start_httpd($v->{name}, $dir, $v->{port}, variant_conf($v, $dir));
}

sub stop_variant { my ($v) = @_; stop_pid(delete $v->{pid}, 15) }

# origin
{
    my $dir = "$tmp/origin";
    make_path("$dir/htdocs");
    chmod 0755, $dir, "$dir/htdocs";
    # 100 bytes: a line of text padded with 'x' and a newline
    my $obj = "mod_proxyauth_ldap bench origin object ";
    $obj .= 'x' x (99 - length $obj);
    spew("$dir/htdocs/obj.txt", "$obj\n", 0644);
    start_httpd('origin', $dir, $origin_port,
                httpd_conf($dir, $origin_port, [], fill(slurp("$BENCH/conf/origin.conf.in"), DIR => $dir)));
}

start_variant($_) for @VARIANTS;
note('started: origin ' . join(', ', map { "$_->{id} on $_->{port}" } @VARIANTS));

# ---------------------------------------------------------------------------
# A small HTTP/1.1 client for checks, warm-ups and the stampede.

sub proxy_req {
    my ($user) = @_;
    my $h = "GET $TARGET HTTP/1.1\r\nHost: 127.0.0.1:$origin_port\r\n";
    $h .= 'Proxy-Authorization: ' . basic($user) . "\r\n" if defined $user;
    return "$h\r\n";
}

sub connect_to {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 10);
}

# read_response($sock) -> (status, keepalive) or () on a closed connection
sub read_response {
    my ($s) = @_;
    my $buf = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 30;
    my ($status, $keep, $len, $chunked) = (0, 1, 0, 0);
    my $ok = eval {
        while ($buf !~ /\r\n\r\n/) {
            my $n = sysread $s, $buf, 65536, length $buf;
            return 0 unless $n;
        }
        my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
        $keep = 0 if $head =~ /^Connection:\s*close/mi || $head =~ m{^HTTP/1\.0};
        $len = $1 if $head =~ /^Content-Length:\s*(\d+)/mi;
        $chunked = 1 if $head =~ /^Transfer-Encoding:\s*chunked/mi;
        $buf = $rest // '';
        if ($chunked) {
            while ($buf !~ /(?:^|\r\n)0\r\n\r\n$/) {
                my $n = sysread $s, $buf, 65536, length $buf;
                return 0 unless $n;
            }
        }
        else {
            while (length $buf < $len) {
                my $n = sysread $s, $buf, 65536, length $buf;
                return 0 unless $n;
            }
        }
        1;
    };
    alarm 0;
    return () unless $ok && $status;
    return ($status, $keep);
}

# requests($port, @users) -> statuses, one keep-alive connection (reopened when closed)
sub requests {
    my ($port, @users) = @_;
    my @st;
    my $s;
    for my $u (@users) {
        for my $try (1, 2) {
            $s ||= connect_to($port) or die "bench: connect to $port: $!\n";
            syswrite $s, proxy_req($u);
            my ($st, $keep) = read_response($s);
            if (!$st) { undef $s; next if $try == 1; push @st, 0; last }
            push @st, $st;
            undef $s unless $keep;
            last;
        }
    }
    close $s if $s;
    return @st;
}

# parallel_requests($port, $n, @users): @users split over $n processes
sub parallel_requests {
    my ($port, $n, @users) = @_;
    my @pids;
    my %bad;
    for my $i (0 .. $n - 1) {
        my @mine = @users[grep { $_ % $n == $i } 0 .. $#users];
        next unless @mine;
        pipe my $r, my $w or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $r;
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
            my @st = requests($port, @mine);
            print {$w} join(',', grep { $_ != 200 } @st), "\n";
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @pids, [$pid, $r];
    }
    for (@pids) {
        my ($pid, $r) = @$_;
        my $line = <$r> // '';
        chomp $line;
        $bad{$_}++ for grep { length } split /,/, $line;
        waitpid $pid, 0;
    }
    return \%bad;
}

sub warm {
    my ($v, @users) = @_;
    my $bad = parallel_requests($v->{port}, 4, @users);
    if (%$bad) {
        note("$v->{id}: warm-up got " . join(', ', map { "$bad->{$_} x $_" } sort keys %$bad));
    }
    return !%$bad;
}

# ---------------------------------------------------------------------------
# cn=Monitor, read with ldapsearch (an anonymous bind and a search per read,
# both left out of the counts).

my $monitor_reads = 0;
sub monitor {
    my $deadline = time + 3;
    my %m;
    while (1) {
        my $out = `$ldapsearch -x -LLL -o ldif-wrap=no -H ldap://127.0.0.1:$ldap_port -b cn=Monitor '(|(cn=Bind)(cn=Search)(cn=Total))' monitorOpInitiated monitorOpCompleted monitorCounter 2>&1`;
        $monitor_reads++;
        %m = ();
        my $cur = '';
        for (split /\n/, $out) {
            if (/^dn:\s*cn=(\w+),cn=(\w+)/i) { $cur = lc "$1.$2"; next }
            $m{"$cur.$1"} = $2 if /^(monitorOp\w+|monitorCounter):\s*(\d+)/;
        }
        die "bench: cannot read cn=Monitor:\n$out" unless defined $m{'bind.operations.monitorOpCompleted'};
        # wait until operations of answered requests are completed
        last if $m{'bind.operations.monitorOpInitiated'} == $m{'bind.operations.monitorOpCompleted'}
             && $m{'search.operations.monitorOpInitiated'} == $m{'search.operations.monitorOpCompleted'} + 1;
        last if time > $deadline;
        sleep 0.02;
    }
    return {
        bind   => $m{'bind.operations.monitorOpCompleted'} - $monitor_reads,
        search => $m{'search.operations.monitorOpCompleted'} - ($monitor_reads - 1),
        conns  => ($m{'total.connections.monitorCounter'} // 0) - $monitor_reads,
    };
}

my $slapd_log = $slapd->{log};
sub user_binds_since {
    my ($offset, $user) = @_;
    sleep 0.2;
    open my $fh, '<', $slapd_log or return 0;
    seek $fh, $offset, 0;
    my $n = 0;
    # slapd logs two lines per bind; the first one names the method
    while (<$fh>) { $n++ if /BIND dn="uid=\Q$user\E,[^"]*" method=/i }
    return $n;
}

# ---------------------------------------------------------------------------
# Checks: one request of each kind per variant.

my %broken;    # "scenario/variant" => reason
for my $v (@VARIANTS) {
    my ($st) = requests($v->{port}, 'u0001');
    $broken{"ok/$v->{id}"} = "answered $st with credentials" unless $st == 200;
    if ($v->{auth}) {
        my ($st2) = requests($v->{port}, undef);
        $broken{"407/$v->{id}"} = "answered $st2 without credentials" unless $st2 == 407;
    }
    note("$v->{id}: check failed: " . join('; ', grep { $_ } @broken{"ok/$v->{id}", "407/$v->{id}"}))
        if $broken{"ok/$v->{id}"} || $broken{"407/$v->{id}"};
}

# ---------------------------------------------------------------------------
# Counting scenarios: cold and stampede, on caches that never saw these users.

my (%cold, %stamp);
my @auth_variants = grep { $_->{auth} } @VARIANTS;
if ($SCEN{cold} || $SCEN{stampede}) {
    my $load0 = loadavg();
    for my $v (@auth_variants) {
        # Open the LDAP connections first (pools, helpers): concurrent logins
        # of other users, so that what follows counts authentications only.
        warm($v, @conn_users);
        if ($SCEN{cold}) {
            my $m0 = monitor();
            my @st = requests($v->{port}, @cold_users);
            my $m1 = monitor();
            my $n = @cold_users;
            my $bad = grep { $_ != 200 } @st;
            $cold{$v->{id}} = {
                binds    => ($m1->{bind} - $m0->{bind}) / $n,
                searches => ($m1->{search} - $m0->{search}) / $n,
                conns    => $m1->{conns} - $m0->{conns},
                n        => $n,
                bad      => $bad,
            };
            $cold{$v->{id}}{ops} = $cold{$v->{id}}{binds} + $cold{$v->{id}}{searches};
            note(sprintf '%s: cold: %.2f LDAP ops per first login (%.2f binds + %.2f searches, %d new LDAP connections, %d users%s)',
                 $v->{id}, $cold{$v->{id}}{ops}, $cold{$v->{id}}{binds}, $cold{$v->{id}}{searches},
                 $cold{$v->{id}}{conns}, $n, $bad ? ", $bad non-200" : '');
        }
        if ($SCEN{stampede}) {
            my @reps;
            for my $user (@stampede_users) {
                my $m0 = monitor();
                my $off = -s $slapd_log;
                my @socks = map { connect_to($v->{port}) or die "bench: connect: $!\n" } 1 .. $opt{stampede};
                my $req = proxy_req($user);
                syswrite $_, $req for @socks;
                my %st;
                for my $s (@socks) { my ($code) = read_response($s); $st{$code // 0}++; close $s }
                my $m1 = monitor();
                push @reps, {
                    binds      => $m1->{bind} - $m0->{bind},
                    user_binds => user_binds_since($off, $user),
                    searches   => $m1->{search} - $m0->{search},
                    conns      => $m1->{conns} - $m0->{conns},
                    statuses   => join(' ', map { "$st{$_}x$_" } sort keys %st),
                    ok         => ($st{200} // 0) == $opt{stampede},
                };
                note(sprintf '%s: stampede (%s): %d user binds, %d binds in all, %d searches, %d new LDAP connections (%s)',
                     $v->{id}, $user, @{ $reps[-1] }{qw(user_binds binds searches conns statuses)});
            }
            $stamp{$v->{id}} = {
                reps       => \@reps,
                user_binds => max(map { $_->{user_binds} } @reps),
                binds      => max(map { $_->{binds} } @reps),
                all        => join('/', map { $_->{user_binds} } @reps),
                children   => $v->{kind} eq 'squid' ? 1 : 2,
                ok         => !(grep { !$_->{ok} } @reps),
                statuses   => join('; ', map { $_->{statuses} } grep { !$_->{ok} } @reps),
            };
        }
    }
    push @load_steps, [join(', ', grep { $SCEN{$_} } qw(cold stampede)), $load0, loadavg()];
}

# ---------------------------------------------------------------------------
# The hit path alone: bench/hitbench/mod_pal_hitbench.c runs httpd's
# check_user_id hook (the module's Basic parse, keyed hashes, shmcb lookup,
# window checks, notes) in a loop inside one httpd, on the hot users' cached
# pairs: no network, no wrk, no proxying. Each repetition runs 1 thread,
# then two prefork children with 32 threads each at once (64 threads on the
# shmcb's mutex and the process's own locks). A contended figure is per hit and
# core: the longer child's wall time x min(64, cores) / all hits, which
# equals the 1-thread figure when nothing waits for anything.

my %hit;
my $hit_so = "$TOP/bench/hitbench/.libs/mod_pal_hitbench.so";
chomp(my $ncpu = `nproc 2>/dev/null` || 1);
sub fmt_ns { return fmt_summary($_[0], '%.0f') }
if ($SCEN{hitpath}) {
    -e $hit_so or die "bench: $hit_so not built (make bench builds it)\n";
    my $load0 = loadavg();
    my $dir = "$tmp/hitpath";
    make_path($dir);
    chmod 0755, $dir;
    spew("$dir/bindpw", "$bindpw_plain\n", 0600);
    my $v = { %{ $VAR{e} }, id => 'hitpath', name => '(e) hit path', port => $hit_port, files => [] };
    my $body = <<"EOC";
LoadModule pal_hitbench_module $hit_so
# prefork, two children: each serves one connection at a time, so the two
# runs of the contended case are served by different processes (their
# threads are the handler's own).
StartServers 2
MinSpareServers 2
MaxSpareServers 2
MaxRequestWorkers 2
# The scope of the handler's own request, which it copies into proxy
# requests (the module leaves the handler's request itself alone).
ProxyAuthLDAP On
ProxyAuthLDAPURL "ldap://127.0.0.1:$ldap_port/ou=people,dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)"
ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
ProxyAuthLDAPBindPassword "file:$dir/bindpw"
<Location "/hitbench">
    SetHandler pal-hitbench
    Require all granted
</Location>
EOC
    my $conf = variant_conf($v, $dir, body => $body);
    $conf =~ s/mpm_event/mpm_prefork/g;
    $conf =~ s/^(?:ThreadLimit|ThreadsPerChild|MinSpareThreads|MaxSpareThreads)\b.*\n//mg;
    my $pid = start_httpd($v->{name}, $dir, $hit_port, $conf);
    my $auths = join ',', map { (split ' ', basic($_))[1] } @USERS[0 .. $opt{hot_users} - 1];
    my $send = sub {
        my ($n, $threads) = @_;
        my $s = connect_to($hit_port) or die "bench: connect to the hit-path httpd: $!\n";
        syswrite $s, "GET /hitbench?n=$n&threads=$threads&auth=$auths HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        return $s;
    };
    my $answer = sub {
        my ($s) = @_;
        local $/;
        my $out = <$s> // '';
        close $s;
        my ($head, $text) = split /\r\n\r\n/, $out, 2;
        die "bench: /hitbench answered: $out\n" . tail_of("$dir/error_log", 10)
            unless $head =~ m{^HTTP/1\.\d 200} && ($text // '') =~ /hits=/;
        my %r = $text =~ /(\w+)=([\d.]+)/g;
        die "bench: /hitbench: $r{errors} iterations not OK\n" . tail_of("$dir/error_log", 10) if $r{errors};
        return \%r;
    };
    my $n = $opt{quick} ? 20000 : 200000;
    my $per_thread = int($n / 16);
    my $reps = $opt{quick} ? 1 : max(5, $opt{runs});
    my (@one, @one_module, @one_harness, @many, @many_cpu);
    for my $rep (1 .. $reps) {
        my $r = $answer->($send->($n, 1));
        push @one, $r->{ns_per_hit};
        push @one_module, $r->{module_ns};
        push @one_harness, $r->{harness_ns};
        my @s = ($send->($per_thread, 32), $send->($per_thread, 32));
        my @r = map { $answer->($_) } @s;
        my $hits = sum(map { $_->{hits} } @r);
        die "bench: both contended runs were served by one child ($r[0]{pid})\n" if $r[0]{pid} == $r[1]{pid};
        push @many, max(map { $_->{wall_ns} } @r) * min(64, $ncpu) / $hits;
        push @many_cpu, sum(map { $_->{cpu_ns_per_hit} * $_->{hits} } @r) / $hits;
        note(sprintf 'hit path %d/%d: 1 thread %.0f ns per hit (module %.0f, harness %.0f); '
             . '2 x 32 threads %.0f ns per hit and core (CPU %.0f ns per hit)', $rep, $reps,
             $one[-1], $one_module[-1], $one_harness[-1], $many[-1], $many_cpu[-1]);
    }
    stop_pid($pid, 15);
    %hit = (single => summary(@one), module => summary(@one_module), harness => summary(@one_harness),
            contended => summary(@many), contended_cpu => summary(@many_cpu), reps => $reps, n => $n,
            per_thread => $per_thread);
    push @load_steps, ['hit path', $load0, loadavg()];
}

# ---------------------------------------------------------------------------
# Throughput scenarios, interleaved.

my %tp;    # scenario => variant => [ {rate, status, sockerr, requests, flag} per run ]
my @tp_scen = grep { /^(hot|wide|407)$/ } @SCENARIOS;
my $wrk_pid;

sub run_wrk {
    my ($port, $nusers, $secs) = @_;
    local $ENV{BENCH_TARGET} = $TARGET;
    local $ENV{BENCH_DIR} = $BENCH;
    local $ENV{BENCH_CREDS}  = $creds_file;
    local $ENV{BENCH_USERS}  = $nusers;
    my @cmd = ($wrk, "-t$opt{threads}", "-c$opt{conns}", "-d${secs}s", '--timeout', '10s',
               '-s', "$BENCH/proxy.lua", "http://127.0.0.1:$port/");
    $wrk_pid = open(my $fh, '-|') // die "fork: $!";
    if (!$wrk_pid) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    undef $wrk_pid;
    my %r;
    if ($out =~ /^BENCH (.*)$/m) {
        %r = map { split /=/, $_, 2 } split ' ', $1;
    }
    else {
        return { rate => 0, requests => 0, status => 0, sockerr => 0, error => "wrk: $out" };
    }
    return {
        rate     => $r{duration_us} ? $r{requests} / ($r{duration_us} / 1e6) : 0,
        requests => $r{requests},
        status   => $r{status},
        sockerr  => $r{connect} + $r{read} + $r{write} + $r{timeout},
        p50_us   => $r{p50_us},
        p99_us   => $r{p99_us},
    };
}
END { kill 'TERM', $wrk_pid if $wrk_pid }

if ($opt{hold}) {
    note("holding for $opt{hold} s: " . join(', ', map { "$_->{id} pid $_->{pid} port $_->{port}" } @VARIANTS)
         . "; origin $TARGET; creds $creds_file");
    sleep $opt{hold};
}

# Competitors back to back: the two variants of every target run next to
# each other in each run, so that a paired ratio compares the same stretch
# of a shared machine's time. The groups rotate and their order flips from
# run to run, so that neither side of a pair always goes first.
my @GROUPS = ([qw(a e b)], [qw(a2 e2 d)], [qw(c)]);
sub run_order {
    my ($run, @vs) = @_;
    my %have = map { $_->{id} => $_ } @vs;
    my @groups = grep { @$_ } map { [ grep { $have{$_} } @$_ ] } @GROUPS;
    my $k = ($run - 1) % @groups;
    @groups = (@groups[$k .. $#groups], @groups[0 .. $k - 1]) if $k;
    @groups = map { [ reverse @$_ ] } @groups if $run % 2 == 0;
    return map { $have{$_} } map { @$_ } @groups;
}

my %warmed;
for my $run (1 .. $opt{runs}) {
    for my $scen (@tp_scen) {
        my $load0 = loadavg();
        my @vs = run_order($run, grep { $scen ne '407' || $_->{auth} } @VARIANTS);
        for my $v (@vs) {
            my $nusers = $scen eq 'hot' ? $opt{hot_users} : $scen eq 'wide' ? scalar @USERS : 0;
            my $flag = '';
            if ($v->{auth} && $nusers) {
                # every user of the scenario is in the cache before measuring
                my @u = @USERS[0 .. $nusers - 1];
                warm($v, @u) or $flag = 'warm-up failed';
            }
            my $r = run_wrk($v->{port}, $v->{auth} || $scen ne '407' ? $nusers : 0, $opt{duration});
            if ($r->{error}) { $flag = $r->{error} }
            elsif ($scen eq '407') {
                my $ok2xx = $r->{requests} - $r->{status};
                $flag = "$ok2xx answers not 407" if $ok2xx > 0;
            }
            elsif ($r->{status}) { $flag = "$r->{status} non-2xx" }
            $flag ||= $broken{"ok/$v->{id}"} if $scen ne '407' && $broken{"ok/$v->{id}"};
            $flag ||= $broken{"407/$v->{id}"} if $scen eq '407' && $broken{"407/$v->{id}"};
            $r->{flag} = $flag;
            $tp{$scen}{ $v->{id} }[ $run - 1 ] = $r;
            note(sprintf 'run %d/%d %-5s %-3s %8.0f req/s  p50 %5.2f ms  p99 %6.2f ms%s%s', $run, $opt{runs},
                 $scen, $v->{id}, $r->{rate}, ($r->{p50_us} // 0) / 1000, ($r->{p99_us} // 0) / 1000,
                 $r->{sockerr} ? "  ($r->{sockerr} socket errors)" : '', $flag ? "  FLAGGED: $flag" : '');
        }
        push @load_steps, ["run $run/$opt{runs} $scen", $load0, loadavg()];
    }
}

# ---------------------------------------------------------------------------
# Shared memory per cached session of (e): two extra instances with mod_status,
# one with the default cache (its geometry) and one with a 1 MiB shmcb whose
# usage figures are coarse enough to read the bytes per entry from.

my %mem;
if ($VAR{e} && !$opt{'no-memory'} && grep { $_->{id} eq 'e' } @VARIANTS) {
    my $load0 = loadavg();
    my $status_conf = <<'EOC';
ExtendedStatus On
<Location "/server-status">
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
EOC
    for my $case (['default', ''], ['small', "ProxyAuthCache \"shmcb:\@DIR\@/pal-cache(1048576)\"\n"]) {
        my ($label, $cache) = @$case;
        my $dir = "$tmp/mem-$label";
        make_path($dir);
        chmod 0755, $dir;
        spew("$dir/bindpw", "$bindpw_plain\n", 0600);
        my $v = { %{ $VAR{e} }, id => "mem-$label", name => "(e) memory, $label cache", port => $mem_port };
        $cache =~ s/\@DIR\@/$dir/g;
        my $pid = start_httpd($v->{name}, $dir, $mem_port,
                              variant_conf($v, $dir, modules => ['status'], body => $cache . $status_conf));
        warm($v, @USERS);
        my $html = '';
        if (my $s = connect_to($mem_port)) {
            syswrite $s, "GET /server-status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
            local $/;
            $html = <$s> // '';
        }
        stop_pid($pid, 15);
        spew("$dir/server-status.html", $html);
        (my $text = $html) =~ s/<[^>]+>//g;
        my %g;
        $g{shm}      = $1 if $text =~ /shared memory:\s*(\d+) bytes/;
        # The module splits a large shmcb into shards, one status block each.
        $g{shards}   = () = $text =~ /shared memory:\s*\d+ bytes/g;
        $g{entries}  = 0;
        $g{entries} += $1 while $text =~ /current entries:\s*(\d+)/g;
        $g{subcaches}= $1 if $text =~ /subcaches:\s*(\d+)/;
        $g{indexes}  = $1 if $text =~ /indexes per subcache:\s*(\d+)/;
        $g{idx_use}  = $1 if $text =~ /index usage:\s*(\d+)%/;
        $g{data_use} = $1 if $text =~ /cache usage:\s*(\d+)%/;
        $g{stored}   = $1 if $text =~ /total entries stored since starting:\s*(\d+)/;
        $g{hits}     = $1 if $text =~ /CacheHits\s*(\d+)/;
        $g{sessions} = scalar @USERS;
        $mem{$label} = \%g;
        note("memory ($label cache): " . join(', ', map { "$_=$g{$_}" } sort keys %g));
    }
    push @load_steps, ['memory of (e)', $load0, loadavg()];
}
my $load_end = loadavg();
note("load average $load_end");

# ---------------------------------------------------------------------------
# Report

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

# The ratios of x to y in the runs where both were measured unflagged.
sub paired {
    my ($scen, $x, $y) = @_;
    my ($rx, $ry) = map { $tp{$scen}{$_} || [] } $x, $y;
    my @r;
    for my $i (0 .. $#$rx) {
        my ($p, $q) = ($rx->[$i], $ry->[$i]);
        push @r, $p->{rate} / $q->{rate} if $p && $q && !$p->{flag} && !$q->{flag} && $q->{rate};
    }
    return @r;
}

# median and spread of a list of paired ratios
sub summary {
    my @r = @_;
    return undef unless @r;
    return { median => median(@r), min => min(@r), max => max(@r), n => scalar @r };
}
sub fmt_summary {
    my ($s, $f) = @_;
    $f //= '%.2f';
    return '?' unless $s;
    return sprintf($f, $s->{median}) if $s->{n} == 1;
    return sprintf "$f ($f-$f)", @$s{qw(median min max)};
}

my %cell;    # scenario => variant => { rate, ratio, ratio2, flags }
for my $scen (@tp_scen) {
    my $ref = $scen eq '407' ? 'b' : 'a';
    for my $v (@VARIANTS) {
        my $runs = $tp{$scen}{ $v->{id} } or next;
        my @flags = map { $_->{flag} } grep { $_ && $_->{flag} } @$runs;
        $cell{$scen}{ $v->{id} } = {
            rate   => median(map { $_->{rate} } grep { $_ && !$_->{flag} } @$runs),
            ratio  => summary(paired($scen, $v->{id}, $ref)),
            # tuned variants: also against the tuned ceiling
            ratio2 => $v->{id} =~ /2$/ ? summary(paired($scen, $v->{id}, 'a2')) : undef,
            nflag  => scalar @flags,
            flags  => join('; ', @flags),
            n      => scalar @$runs,
        };
    }
}

sub fmt_rate {
    my ($c, $scen) = @_;
    return '–' unless $c;
    my $s = defined $c->{rate} ? sprintf('%.0f', $c->{rate}) : 'flagged';
    $s .= ' (' . fmt_summary($c->{ratio}) . ')' if defined $c->{rate} && $c->{ratio};
    $s .= ' [' . fmt_summary($c->{ratio2}) . ' of a2]' if defined $c->{rate} && $c->{ratio2} && $scen ne '407';
    $s .= " ⚠ $c->{nflag}/$c->{n} runs flagged" if $c->{nflag};
    return $s;
}

my @ids = map { $_->{id} } @VARIANTS;
my @rows;
my %rowname = (
    hot  => "hot: $opt{hot_users} users, warm cache, req/s (ratio to a)",
    wide => "wide: " . scalar(@USERS) . " users rotating, all cached, req/s (ratio to a)",
    407  => '407 path: no credentials, 407/s (ratio to b)',
);
for my $scen (@tp_scen) {
    push @rows, [ $rowname{$scen}, map { fmt_rate($cell{$scen}{$_}, $scen) } @ids ];
}
if ($SCEN{cold}) {
    push @rows, [ "cold: LDAP operations per first authentication (binds + searches), $opt{cold} users",
        map { my $c = $cold{$_}; $c ? sprintf('%.2f (%.2f + %.2f)%s', $c->{ops}, $c->{binds}, $c->{searches},
                                              $c->{bad} ? " ⚠ $c->{bad} non-200" : '') : '–' } @ids ];
}
if ($SCEN{stampede}) {
    push @rows, [ sprintf('stampede: %d simultaneous first requests for one user: user binds, worst of %d (each try; processes)',
                          $opt{stampede}, scalar @stampede_users),
        map { my $c = $stamp{$_}; $c ? sprintf('%d (%s; %d)%s', $c->{user_binds}, $c->{all}, $c->{children},
                                               $c->{ok} ? '' : " ⚠ $c->{statuses}") : '–' } @ids ];
}

sub version_of {
    my ($cmd, $re) = @_;
    my $out = `$cmd 2>&1` // '';
    return $out =~ $re ? $1 : '?';
}
my $cpu = (slurp('/proc/cpuinfo') =~ /^model name\s*:\s*(.+)$/m)[0] // '?';
chomp(my $nproc = `nproc 2>/dev/null` // '?');
my $machine = sprintf 'Machine: %s cores, %s; httpd %s (mpm_event, 2 x 64 threads), Squid %s, slapd %s, wrk %s.',
    $nproc, $cpu,
    version_of("$httpd -v", qr{Apache/(\S+)}),
    $squid ? version_of("$squid -v", qr{Version (\S+)}) : '-',
    version_of('slapd -VV', qr{slapd (\S+)}),
    version_of("$wrk -v", qr{wrk (\S+)});

my $md = "## Benchmark: mod_proxyauth_ldap against httpd's LDAP stack and Squid\n\n";
$md .= sprintf "%s run%s of %d s per variant and scenario (wrk -t%d -c%d, %d-byte origin object, slapd with %d users), "
    . "competitors back to back in each run; each cell is the median over the runs, then the median of the paired "
    . "ratios (each run's own pair) to (a) (407 path: to (b)) with their spread, min-max. Tuned variants also show "
    . "[ratio to (a2)].\n\n",
    $opt{runs}, $opt{runs} == 1 ? '' : 's', $opt{duration}, $opt{threads}, $opt{conns}, -s "$tmp/origin/htdocs/obj.txt",
    scalar @USERS;
$md .= '| scenario | ' . join(' | ', map { $_->{name} } @VARIANTS) . " |\n";
$md .= '|---|' . join('|', map { '---' } @VARIANTS) . "|\n";
$md .= '| ' . join(' | ', @$_) . " |\n" for @rows;
$md .= "\n";
my @flagged = map { my $s = $_; map { $cell{$s}{$_} && $cell{$s}{$_}{nflag} ? "$s/$_: $cell{$s}{$_}{flags}" : () } @ids } @tp_scen;
$md .= "Flagged runs (left out of the medians): " . join('; ', @flagged) . "\n\n" if @flagged;
if (%hit) {
    $md .= sprintf "Hit path alone (bench/hitbench: httpd's check_user_id hook on a cached pair of the %d hot users, "
        . "in a loop inside one httpd; %d repetition%s, median (min-max)): 1 thread, %d hits: %s ns per hit, "
        . "of which %s ns are the harness's own pool and request copy, so %s ns are the module's. "
        . "2 processes x 32 threads at once, %d hits in all: %s ns per hit and core (wall time x %d cores / hits), "
        . "%s ns of CPU time per hit.\n\n",
        $opt{hot_users}, $hit{reps}, $hit{reps} == 1 ? '' : 's', $hit{n}, fmt_ns($hit{single}),
        fmt_ns($hit{harness}), fmt_ns($hit{module}), $hit{per_thread} * 64, fmt_ns($hit{contended}),
        min(64, $ncpu), fmt_ns($hit{contended_cpu});
}

# Memory
if (%mem) {
    my $d = $mem{default} // {};
    my $s = $mem{small} // {};
    my $idx = 24;    # sizeof(SHMCBIndex) on LP64
    my $hdr = 88;    # sizeof(SHMCBHeader) on LP64
    my $geometry = sub {    # data bytes per subcache, as shmcb lays it out
        my ($g) = @_;
        my $sub_size = int(($g->{shm} - $hdr) / $g->{subcaches} / 8) * 8;
        return $sub_size - 16 - $g->{indexes} * $idx;
    };
    my ($lo, $hi);
    if ($s->{shm} && $s->{subcaches} && $s->{entries} && defined $s->{data_use}) {
        # shmcb prints its data usage as a truncated percentage
        my $area = $geometry->($s) * $s->{subcaches};
        ($lo, $hi) = map { $_ / 100 * $area / $s->{entries} } $s->{data_use}, $s->{data_use} + 1;
    }
    my $eps = $s->{entries} && $s->{sessions} ? $s->{entries} / $s->{sessions} : 1;
    my $mid = defined $lo ? ($lo + $hi) / 2 : undef;
    my ($capacity, $bound);
    if ($d->{shm} && $d->{subcaches} && $d->{indexes} && $mid) {
        my $by_data = int($geometry->($d) / $mid);
        $bound = $by_data < $d->{indexes} ? 'data area' : 'index slots';
        $capacity = int(min($d->{indexes}, $by_data) * $d->{subcaches}
                        * ($d->{shards} || 1) / $eps);
    }
    $mem{per_session} = defined $mid ? ($mid + $idx) * $eps : undef;
    $mem{capacity} = $capacity;
    $md .= sprintf "Shared memory of (e): %s sessions (one first login each) left %s shmcb entries (%.1f per session). "
        . "In a 1 MiB shmcb they filled %s%% of the data area and %s%% of the index slots: %s bytes of id + value per entry, "
        . "so about %s bytes of shared memory per session with shmcb's %d-byte index slot. "
        . "The default cache is %s bytes (%s shards of %s subcaches x %s index slots), bounded by its %s: about %s sessions%s "
        . "(logins of 5 characters and 38-byte DNs here; longer DNs make larger entries).\n\n",
        $s->{sessions} // '?', $s->{entries} // '?', $eps,
        $s->{data_use} // '?', $s->{idx_use} // '?',
        defined $lo ? sprintf('%.0f-%.0f', $lo, $hi) : '?',
        defined $mem{per_session} ? sprintf('%.0f', $mem{per_session}) : '?', $idx,
        $d->{shm} ? $d->{shm} * ($d->{shards} || 1) : '?', $d->{shards} || 1,
        $d->{subcaches} // '?', $d->{indexes} // '?', $bound // '?',
        defined $capacity ? $capacity : '?',
        defined $capacity ? ($capacity >= 100000 ? ', so 100,000 fit' : ', so 100,000 do NOT fit') : '';
}

# Targets: judged on paired ratios. "met" when every run's ratio meets the
# threshold, "MISSED" when none does, "within noise" when the spread
# straddles it: the machine's noise is then as large as the gap.
my @targets;
sub cellv { my ($s, $v, $k) = @_; return $cell{$s} && $cell{$s}{$v} ? $cell{$s}{$v}{$k // 'rate'} : undef }
sub verdict { my ($ok) = @_; return !defined $ok ? 'n/a' : $ok ? 'met' : 'MISSED' }
sub judge {
    my ($s, $thr) = @_;
    return 'n/a' unless $s;
    return 'met' if $s->{min} >= $thr;
    return 'MISSED' if $s->{max} < $thr;
    return 'within noise';
}
# the same for a target that is a ceiling (nanoseconds)
sub judge_at_most {
    my ($s, $thr) = @_;
    return 'n/a' unless $s;
    return 'met' if $s->{max} <= $thr;
    return 'MISSED' if $s->{min} > $thr;
    return 'within noise';
}
sub ratio_target {
    my ($what, $s, $thr) = @_;
    push @targets, sprintf '%s: %s (target >= %.2f): %s', $what, fmt_summary($s), $thr, judge($s, $thr) if $s;
}
if ($cell{hot}) {
    ratio_target('hot: (e) / ceiling (a)', summary(paired('hot', 'e', 'a')), 0.97);
    ratio_target("hot: (e) / httpd's own LDAP stack (b)", summary(paired('hot', 'e', 'b')), 1.00);
    ratio_target('hot: (e) / (b) + authn_socache (c)', summary(paired('hot', 'e', 'c')), 1.00);
    ratio_target('hot, tuned: (e2) / tuned ceiling (a2)', summary(paired('hot', 'e2', 'a2')), 0.97);
}
for my $scen (grep { $cell{$_} } qw(hot wide)) {
    ratio_target("$scen, tuned: (e2) / Squid (d)", summary(paired($scen, 'e2', 'd')), 1.00);
}
if ($cell{wide}) {
    ratio_target('wide: (e) / ceiling (a)', summary(paired('wide', 'e', 'a')), 0.90);
    ratio_target('wide, tuned: (e2) / tuned ceiling (a2)', summary(paired('wide', 'e2', 'a2')), 0.90);
}
if ($cold{e}) {
    push @targets, sprintf('cold: (e) %.2f LDAP operations per first authentication (target <= 2): %s',
                           $cold{e}{ops}, verdict($cold{e}{ops} <= 2.005));
}
if ($stamp{e}) {
    push @targets, sprintf('stampede: (e) at most %d user binds (tries: %s) for %d processes (target <= 1 per process): %s',
                           $stamp{e}{user_binds}, $stamp{e}{all}, $stamp{e}{children},
                           verdict($stamp{e}{user_binds} <= $stamp{e}{children} && $stamp{e}{ok}));
}
if ($cell{407}) {
    ratio_target('407 path: (e) / (b)', summary(paired('407', 'e', 'b')), 1.00);
}
if (%hit) {
    my ($one, $many) = @hit{qw(single contended)};
    push @targets, sprintf('hit path, 1 thread: %s ns per hit (target <= 5000): %s', fmt_ns($one),
                           judge_at_most($one, 5000))
        if $one;
    push @targets, sprintf('hit path, 2 processes x 32 threads: %s ns per hit and core (target <= 2 x 1 thread, %.0f): %s',
                           fmt_ns($many), 2 * $one->{median}, judge_at_most($many, 2 * $one->{median}))
        if $one && $many;
}
if (defined $mem{per_session}) {
    push @targets, sprintf('memory: about %.0f bytes of shared memory per cached session; the default holds about %s sessions (target: 100,000 fit): %s',
                           $mem{per_session}, $mem{capacity} // '?', verdict(defined $mem{capacity} ? $mem{capacity} >= 100000 : undef));
}
$md .= "Targets:\n\n" . join('', map { "- $_\n" } @targets) . "\n" if @targets;
$md .= "$machine\n\n";
$md .= "Load average (1, 5, 15 min, /proc/loadavg): $load_start before the run, $load_end after it. "
    . "Every figure taken after the start counts the benchmark's own processes too, "
    . "and the 1-min figure trails by about a minute (the kernel recomputes them every 5 s).\n\n";
if (@load_steps) {
    $md .= "| step | load before | load after |\n|---|---|---|\n";
    $md .= "| $_->[0] | $_->[1] | $_->[2] |\n" for @load_steps;
}

print "\n$md";
spew("$opt{out}/results.md", $md);

# raw numbers
{
    my $raw = "scenario\tvariant\trun\treq_per_s\trequests\tnon2xx\tsocket_errors\tp50_us\tp99_us\tflag\n";
    for my $scen (@tp_scen) {
        for my $id (@ids) {
            my $runs = $tp{$scen}{$id} or next;
            for my $i (0 .. $#$runs) {
                my $r = $runs->[$i] or next;
                $raw .= join("\t", $scen, $id, $i + 1, sprintf('%.1f', $r->{rate}), map { $_ // '' }
                             @$r{qw(requests status sockerr p50_us p99_us flag)}) . "\n";
            }
        }
    }
    spew("$opt{out}/raw.tsv", $raw);
}

# chart
if ($gnuplot && @tp_scen) {
    my %label = (hot => 'hot (10 users)', wide => 'wide (1000 users)', 407 => '407 path');
    my $head = "scenario\t" . join("\t", map { qq("$_->{name}") } @VARIANTS) . "\n";
    my ($dat, $dat407, $max1, $max2) = ($head, $head, 1, 1);
    for my $scen (@tp_scen) {
        my @vals = map { cellv($scen, $_) } @ids;
        my $line = qq("$label{$scen}"\t) . join("\t", map { defined $_ ? sprintf('%.0f', $_) : 'NaN' } @vals) . "\n";
        my $m = max(0, grep { defined } @vals);
        if ($scen eq '407') { $dat407 .= $line; $max2 = max($max2, $m) }
        else                { $dat .= $line;    $max1 = max($max1, $m) }
    }
    $dat .= qq("-"\t) . join("\t", map { 'NaN' } @ids) . "\n" if $dat eq $head;
    $dat407 .= qq("407 path"\t) . join("\t", map { 'NaN' } @ids) . "\n" if $dat407 eq $head;
    spew("$opt{out}/bench.dat", $dat);
    spew("$opt{out}/bench407.dat", $dat407);
    my $title = sprintf 'Forward proxy on loopback, median of %d run%s x %d s (wrk -t%d -c%d, %s cores, 1-min load %s before, %s after)',
        $opt{runs}, $opt{runs} == 1 ? '' : 's', $opt{duration}, $opt{threads}, $opt{conns}, $nproc,
        (split ' ', $load_start)[0], (split ' ', $load_end)[0];
    my $gp = fill(slurp("$BENCH/plot.gp.in"), DAT => 'bench.dat', DAT407 => 'bench407.dat', SVG => 'bench.svg',
                  NCOL => scalar(@VARIANTS) + 1, TITLE => $title,
                  YMAX1 => int($max1 * 1.6), YMAX2 => int($max2 * 1.15));
    spew("$opt{out}/bench.gp", $gp);
    # run in the output folder: no path of this machine ends up in the chart
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        chdir $opt{out} or POSIX::_exit(1);
        open STDERR, '>', 'gnuplot.log';    # "no valid points" for the columns left empty
        exec $gnuplot, 'bench.gp' or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    note('gnuplot failed') if $?;
}
else {
    note('gnuplot not found: no chart (sh t/deps.sh bench)') unless $gnuplot;
}

if ($opt{publish}) {
    make_path("$BENCH/results");
    copy("$opt{out}/results.md", "$BENCH/results/results.md");
    copy("$opt{out}/bench.svg", "$BENCH/results/bench.svg") if -e "$opt{out}/bench.svg";
    note('copied results.md and bench.svg to bench/results/');
}
note(sprintf 'done in %.0f s; results in %s/results.md, chart %s/bench.svg', time - $t_start, $opt{out}, $opt{out});
exit 0;
