#!/usr/bin/perl
# Soak test of mod_proxyauth_ldap: steady proxy traffic while the directory, the
# shared cache and httpd itself are disturbed, then a report of what every
# request got and a verdict on the invariants of the contract (SPEC "Status
# codes", "Cache", "LDAP client").
#
#   make soak                      deps, build, run (about 3 minutes)
#   perl t/soak/soak.pl --help     every option
#
# Everything runs on 127.0.0.1 with free ports, outside Apache::Test, from a
# 0755 temp folder outside the checkout:
#   slapd   PALTest::slapd_start, a few thousand users (people_ldif)
#   redis   PALTest::redis_start: the credential cache (ProxyAuthCache redis:,
#           ProxyAuthCacheSecret file:), so that stopping redis means something
#   httpd   event MPM, one VirtualHost is the authenticating forward proxy
#           (ProxyAuthLDAPTimeout 2), another the origin serving a small file
#   load    forked workers, a new TCP connection per request, each request one
#           of: cached (10 users whose sessions are warm), uncached (a user
#           never used before in the run, right password), wrong (an existing
#           user, wrong password), unknown (a user not in the directory)
# Phases: warm-up, slapd SIGKILL, slapd restarted (same data and port), slapd
# SIGSTOP, SIGCONT, redis stopped, redis restarted (same port), two graceful
# restarts of httpd (SIGUSR1); then SIGTERM to httpd.
#
# Every process started here is stopped by PID at the end, on failure and on
# Ctrl-C; they also get SIGTERM if this script dies (setpriv --pdeathsig).
# Output (--out, default t/soak/out): report.txt, requests.tsv (one line per
# request), events.tsv, the proxy's error_log and access_log.
# Exit status: 0 all invariants held, 1 some failed, 2 the set-up failed.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use PALTest qw(slapd_start slapd_stop slapd_restart slapd_pause slapd_resume
               people_ldif redis_start redis_stop free_ports wait_for_port basic);

use Cwd qw(abs_path);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp ();
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use List::Util qw(max min sum);
use POSIX qw(WNOHANG setsid);
use Time::HiRes qw(sleep time);

my $TOP = abs_path("$FindBin::Bin/../..");
my $main_pid = $$;    # forked workers must not run the clean-up

sub bad_option { print STDERR "soak: $_[0]\n"; exit 2 }

my %opt = (
    workers => 4,
    rate    => 12,      # requests per second per worker
    scale   => 1,       # multiplies every phase length
    out     => "$TOP/t/soak/out",
);
GetOptions(\%opt, 'workers=i', 'rate=f', 'scale=f', 'out=s', 'keep', 'help')
    or bad_option('bad options (see --help)');
if ($opt{help}) {
    print <<'EOT';
usage: perl t/soak/soak.pl [options]
  --workers N   load processes (default 4)
  --rate R      requests per second per worker (default 12)
  --scale F     multiply every phase length by F (default 1: about 3 minutes
                in all; below 1 the recovery checks lose their meaning)
  --out DIR     report and logs (default t/soak/out)
  --keep        keep the temp folder (configs, slapd and redis folders)
EOT
    exit 0;
}
bad_option('--workers 1..32') unless $opt{workers} >= 1 && $opt{workers} <= 32;
bad_option('--rate must be > 0') unless $opt{rate} > 0;
bad_option('--scale must be > 0') unless $opt{scale} > 0;

# The contract's figures that the invariants are judged by.
use constant LDAP_TIMEOUT   => 2;                    # ProxyAuthLDAPTimeout below
use constant MAX_503_SECS   => LDAP_TIMEOUT + 1;     # SPEC: 503 within Timeout + 1 s
use constant RECOVERY_SECS  => 2;                    # SPEC: back in use within ~2 s
use constant REQUEST_SECS   => 10;                   # client gives up on a request
use constant WATCHDOG_SECS  => 900;                  # the whole run, whatever happens

# Phases: name, seconds, the action that opens it.
my @PHASES = (
    [ 'warm-up',          20, undef ],
    [ 'slapd killed',     20, 'slapd_kill' ],
    [ 'slapd restarted',  25, 'slapd_restart' ],
    [ 'slapd hung',       20, 'slapd_stop' ],
    [ 'slapd resumed',    25, 'slapd_cont' ],
    [ 'redis stopped',    20, 'redis_stop' ],
    [ 'redis restarted',  15, 'redis_start' ],
    [ 'graceful 1',       15, 'graceful' ],
    [ 'graceful 2',       15, 'graceful' ],
);
$_->[1] *= $opt{scale} for @PHASES;
my $load_secs = sum(map { $_->[1] } @PHASES);

my @KINDS = qw(cached uncached wrong unknown);
my %WEIGHT = (cached => 0.4, uncached => 0.2, wrong => 0.2, unknown => 0.2);

# ---------------------------------------------------------------------------
# Processes: everything started here is stopped by PID.

my ($tmp, $slapd, $redis, $httpd);
my %workers;     # pid => index
my $stop_w;      # write end of the workers' stop pipe: closing it stops them
my $cleaned;

sub note { printf STDERR "soak: %s\n", join ' ', @_ }

sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die "soak: fork: $!\n";
    if (!$pid) {
        setsid();    # httpd signals its own process group at stop
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec 'setpriv', '--pdeathsig', 'TERM', '--', @cmd or POSIX::_exit(127);
    }
    return $pid;
}

# wait_pid($pid, $secs) -> wait status, or undef if it is still running
sub wait_pid {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (1) {
        my $r = waitpid $pid, WNOHANG;
        return $? if $r == $pid;
        return -1 if $r == -1;
        return undef if time > $deadline;
        sleep 0.02;
    }
}

# A signal would cut the request in hand short (select() is not restarted) and
# log a client error that the proxy never caused: the workers see the pipe's
# end-of-file instead, between two requests.
sub stop_workers {
    close $stop_w if $stop_w;
    undef $stop_w;
    return unless %workers;
    my $deadline = time + REQUEST_SECS + 5;
    for my $pid (keys %workers) {
        if (!defined wait_pid($pid, max(0.1, $deadline - time))) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
        }
        delete $workers{$pid};
    }
}

# stop_httpd($timeout) -> (wait status or undef, seconds it took)
sub stop_httpd {
    my ($timeout) = @_;
    my $pid = $httpd && delete $httpd->{pid} or return;
    my $t = time;
    kill 'TERM', $pid;
    my $st = wait_pid($pid, $timeout);
    if (!defined $st) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    return ($st, time - $t);
}

sub cleanup {
    return if $cleaned++ || $$ != $main_pid;
    local $?;
    alarm 0;
    stop_workers();
    stop_httpd(10);
    redis_stop($redis) if $redis;
    slapd_stop($slapd) if $slapd;
    if ($tmp && -d $tmp) {
        if ($opt{keep}) { note("kept $tmp") }
        else            { remove_tree($tmp) }
    }
}
$SIG{INT}  = sub { note('interrupted, stopping everything'); cleanup(); exit 130 };
$SIG{TERM} = sub { cleanup(); exit 143 };
$SIG{HUP}  = sub { cleanup(); exit 129 };
$SIG{ALRM} = sub { note('watchdog: the run took too long, stopping everything'); cleanup(); exit 2 };
$SIG{PIPE} = 'IGNORE';
END { if ($$ == $main_pid) { my $rc = $?; cleanup(); $? = $rc } }
alarm WATCHDOG_SECS;

sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; return scalar(<$fh>) // '' }
sub spew {
    my ($f, $text, $mode) = @_;
    open my $fh, '>', $f or die "soak: write $f: $!\n";
    print {$fh} $text;
    close $fh or die "soak: close $f: $!\n";
    chmod $mode, $f if defined $mode;
}
sub tail_of { my ($f, $n) = @_; my @l = split /\n/, slurp($f); return join('', map { "    $_\n" } @l > $n ? @l[-$n .. -1] : @l) }

# setup failures: exit 2 (cleanup runs from END)
sub setup_die { note(@_); exit 2 }

# ---------------------------------------------------------------------------
# Set-up

sub tool {
    my ($name) = @_;
    for my $d (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/sbin', '/usr/bin') {
        return "$d/$name" if -x "$d/$name";
    }
    return undef;
}

my $apxs = $ENV{APXS} || tool('apxs') or setup_die('apxs not found (sh t/deps.sh soak)');
chomp(my $libexec = `'$apxs' -q LIBEXECDIR`);
chomp(my $sbindir = `'$apxs' -q SBINDIR`);
chomp(my $target  = `'$apxs' -q TARGET`);
my $httpd_bin = "$sbindir/$target";
my $module = "$TOP/.libs/mod_proxyauth_ldap.so";
-x $httpd_bin or setup_die("$httpd_bin not found (sh t/deps.sh soak)");
-e $module or setup_die("$module not built (make)");
tool($_) or setup_die("$_ not found (sh t/deps.sh soak)") for qw(slapd slapadd redis-server setpriv);
-e "$libexec/mod_socache_redis.so" or setup_die("$libexec/mod_socache_redis.so not found");

# httpd's children (nobody) read the origin's file: a 0755 folder outside the checkout.
$tmp = File::Temp::tempdir('pal-soak-XXXXXXXX', DIR => (-d '/tmp' ? '/tmp' : File::Spec->tmpdir),
                           CLEANUP => 0);
chmod 0755, $tmp;
$ENV{PAL_TMP} = $tmp;    # PALTest keeps its slapd and redis folders there
my @OUT_FILES = qw(report.txt requests.tsv events.tsv error_log access_log httpd.conf stderr.log);
make_path($opt{out});
unlink map { "$opt{out}/$_" } @OUT_FILES;
note("temp folder $tmp");

# Users. uncached users are handed out in disjoint slices, one per worker, each
# used once; the wrong-password accounts are never used with their right password
# (their soft lock must not touch the other kinds).
my @CACHED = map { sprintf 'u%05d', $_ } 1 .. 10;
my @WRONG  = map { sprintf 'u%05d', $_ } 101 .. 400;
my $per_worker = int($opt{rate} * $WEIGHT{uncached} * $load_secs * 1.5) + 50;
my @UNCACHED = map { sprintf 'u%05d', 1000 + $_ } 1 .. $per_worker * $opt{workers};
my %PW = map { $_ => "pw-$_" } @CACHED, @WRONG, @UNCACHED;

my $seed = "$tmp/seed.ldif";
spew($seed, people_ldif(%PW), 0644);
my $t_seed = time;
$slapd = eval { slapd_start(seed => $seed, tls => 0, timeout => 20) }
    or setup_die("slapd did not start: $@");
note(sprintf 'slapd on port %d with %d users (seeded in %.1f s)',
     $slapd->{ldap_port}, scalar keys %PW, time - $t_seed);

$redis = eval { redis_start() } or setup_die("redis did not start: $@");
my $redis_port = $redis->{port};
note("redis on port $redis_port");

my ($proxy_port, $origin_port) = free_ports(2);
my $hdir = "$tmp/httpd";
make_path("$hdir/htdocs");
chmod 0755, $hdir, "$hdir/htdocs";
my $BODY = "soak-origin-ok\n" . ('x' x 83) . "\n";    # 100 bytes
spew("$hdir/htdocs/soak.txt", $BODY, 0644);
spew("$hdir/bind.pw", "svc-secret\n", 0600);
{
    open my $r, '<:raw', '/dev/urandom' or setup_die("urandom: $!");
    read $r, my $bytes, 32;
    spew("$hdir/cache.secret", unpack('H*', $bytes) . "\n", 0600);
}

# The modules of the test suite's base config (t/TEST.PL), plus socache_redis.
my @MODULES = qw(mpm_event authz_core authz_host authz_user authn_core mime
                 log_config socache_shmcb socache_redis proxy proxy_http);
my $loads = join '', map { "LoadModule ${_}_module $libexec/mod_$_.so\n" }
                     grep { -e "$libexec/mod_$_.so" } @MODULES;
my $user_group = '';
if ($> == 0) {
    my $group = getgrgid((getpwnam('nobody'))[3] // 65534) // 'nogroup';
    $user_group = "User nobody\nGroup $group\n";
}
my $ldap_port = $slapd->{ldap_port};
spew("$hdir/httpd.conf", <<"EOC", 0644);
# Written by t/soak/soak.pl.
ServerRoot "$hdir"
DefaultRuntimeDir "$hdir"
PidFile "$hdir/httpd.pid"
ErrorLog "$hdir/error_log"
LogLevel info
ServerName 127.0.0.1
TypesConfig /dev/null
$user_group
$loads
LoadModule proxyauth_ldap_module "$module"

Listen 127.0.0.1:$proxy_port
Listen 127.0.0.1:$origin_port

# Room in the scoreboard for an old generation that is still finishing its
# requests while the new one starts (graceful restarts).
StartServers 2
ServerLimit 8
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 75

ProxyAuthCache redis:127.0.0.1:$redis_port
ProxyAuthCacheSecret "file:$hdir/cache.secret"

# %r carries the client's request id (?r=...), so every request of the report
# can be matched to the module's verdict.
LogFormat "%>s %{proxyauth-result}n %u \\"%r\\"" soak

<VirtualHost 127.0.0.1:$proxy_port>
    CustomLog "$hdir/access_log" soak
    ProxyRequests On
    ProxyVia Off
    <Proxy "*">
        ProxyAuthLDAP On
        ProxyAuthRealm "Soak"
        ProxyAuthLDAPURL "ldap://127.0.0.1:$ldap_port/ou=people,dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)"
        ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
        ProxyAuthLDAPBindPassword "file:$hdir/bind.pw"
        ProxyAuthLDAPTimeout ${\ LDAP_TIMEOUT}
    </Proxy>
</VirtualHost>

<VirtualHost 127.0.0.1:$origin_port>
    DocumentRoot "$hdir/htdocs"
    <Directory "$hdir/htdocs">
        Require all granted
    </Directory>
</VirtualHost>
EOC

$httpd = { dir => $hdir };
$httpd->{pid} = spawn("$hdir/stderr.log", $httpd_bin, '-DFOREGROUND', '-f', "$hdir/httpd.conf");
{
    my $deadline = time + 15;
    until (wait_for_port($proxy_port, 0) && wait_for_port($origin_port, 0)) {
        if (waitpid($httpd->{pid}, WNOHANG) == $httpd->{pid}) {
            delete $httpd->{pid};
            setup_die("httpd did not start:\n" . tail_of("$hdir/stderr.log", 10)
                      . tail_of("$hdir/error_log", 15));
        }
        setup_die("httpd not listening after 15 s:\n" . tail_of("$hdir/error_log", 15))
            if time > $deadline;
        sleep 0.05;
    }
}
note("httpd (event MPM) proxy on port $proxy_port, origin on port $origin_port");

# ---------------------------------------------------------------------------
# The client: one request on a new connection.

my $TARGET_HOST = "127.0.0.1:$origin_port";

# request($user, $pass, $id) -> (status, error): status 0 with an error text
# when no complete status line came back.
sub request {
    my ($user, $pass, $id) = @_;
    my $deadline = time + REQUEST_SECS;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxy_port,
                                  Proto => 'tcp', Timeout => REQUEST_SECS)
        or return (0, 'connect');
    my $req = "GET http://$TARGET_HOST/soak.txt?r=$id HTTP/1.1\r\nHost: $TARGET_HOST\r\n"
            . (defined $user ? 'Proxy-Authorization: ' . basic($user, $pass) . "\r\n" : '')
            . "Connection: close\r\n\r\n";
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $s, $req, length($req) - $off, $off;
        if (!defined $n) { close $s; return (0, 'write') }
        $off += $n;
    }
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $err;
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) { $err = 'timeout'; last }
        my $n = sysread $s, $buf, 65536, length $buf;
        if (!defined $n) { $err = 'reset'; last }
        last if $n == 0;
    }
    close $s;
    my ($status) = $buf =~ m{\AHTTP/1\.[01] (\d{3})};
    return (0, $err // 'eof') unless $status;
    return ($status, $err) if $err;    # the head came, the body did not
    if ($status == 200) {
        my (undef, $body) = split /\r\n\r\n/, $buf, 2;
        return (200, 'body') unless defined $body && $body eq $BODY;
    }
    return ($status, '');
}

# ---------------------------------------------------------------------------
# Sanity: nothing is measured on a proxy that does not answer as expected.

for my $u (@CACHED) {
    my ($st, $err) = request($u, $PW{$u}, "warm-$u");
    setup_die("warming $u: got " . ($st || "no answer ($err)") . ', not 200:'
              . "\n" . tail_of("$hdir/error_log", 15))
        unless $st == 200 && !$err;
}
{
    my ($st) = request(undef, undef, 'sanity-none');
    setup_die("a request without credentials got $st, not 407") unless $st == 407;
    ($st) = request('sanity-nobody', 'x', 'sanity-unknown');
    setup_die("an unknown user got $st, not 407") unless $st == 407;
}
note('sanity: 10 cached users warm (200), no credentials 407, unknown user 407');

# ---------------------------------------------------------------------------
# Load

my $t0 = time;
my $reqlog_dir = "$tmp/requests";
make_path($reqlog_dir);

sub worker {
    my ($i, $stop_r) = @_;
    my $stop_sel = IO::Select->new($stop_r);
    $SIG{$_} = sub { POSIX::_exit(130) } for qw(INT TERM HUP);
    $SIG{ALRM} = 'DEFAULT';
    $SIG{PIPE} = 'IGNORE';
    alarm 0;
    srand(int($t0 * 1000) + $i);
    open my $log, '>', "$reqlog_dir/w$i.tsv" or POSIX::_exit(3);
    my @mine = @UNCACHED[$i * $per_worker .. ($i + 1) * $per_worker - 1];
    my ($seq, $ghost) = (0, 0);
    my $next = time;
    my $end = $t0 + $load_secs + 60;    # in case the stop signal never comes
    while (time < $end) {
        last if getppid() != $main_pid;
        $next += 1 / $opt{rate};
        my $wait = $next - time;
        $next = time if $wait < -1;    # after a slow request: no burst
        last if $stop_sel->can_read(max($wait, 0));
        my $x = rand;
        my $kind = $KINDS[-1];
        for (@KINDS) { if (($x -= $WEIGHT{$_}) < 0) { $kind = $_; last } }
        $kind = 'cached' if $kind eq 'uncached' && !@mine;
        my ($user, $pass);
        if    ($kind eq 'cached')   { $user = $CACHED[rand @CACHED]; $pass = $PW{$user} }
        elsif ($kind eq 'uncached') { $user = shift @mine;           $pass = $PW{$user} }
        elsif ($kind eq 'wrong')    { $user = $WRONG[rand @WRONG];   $pass = 'bad-' . int(rand 1e9) }
        else                        { $user = sprintf('ghost-w%d-%d', $i, ++$ghost); $pass = 'pw-ghost' }
        my $id = "w$i-" . ++$seq;
        my $ts = time;
        my ($st, $err) = request($user, $pass, $id);
        my $te = time;
        syswrite $log, sprintf("%.4f\t%.4f\t%s\t%s\t%d\t%s\t%s\n",
                               $ts, $te, $kind, $user, $st, $err || '-', $id);
    }
    close $log;
    POSIX::_exit(0);
}

pipe my $stop_r, $stop_w or setup_die("pipe: $!");
for my $i (0 .. $opt{workers} - 1) {
    my $pid = fork // setup_die("fork: $!");
    if (!$pid) {
        close $stop_w;
        eval { worker($i, $stop_r) };
        POSIX::_exit(4);
    }
    $workers{$pid} = $i;
}
close $stop_r;
note(sprintf 'load: %d workers x %g req/s, new connection per request; phases %s (%d s)',
     $opt{workers}, $opt{rate}, join(', ', map { "$_->[0] $_->[1] s" } @PHASES), $load_secs);

# ---------------------------------------------------------------------------
# Faults

my @events;    # [time, text]
sub event { my ($text, $t) = @_; push @events, [ $t // time, $text ]; note(sprintf '%7.2f  %s', $events[-1][0] - $t0, $text) }

my %fault;      # name => time: the exact instants the invariants are judged by
my @phase_at;   # [name, start]
my @problems;   # things the run saw outside the request logs
my $httpd_died; # wait status when the parent exited during the load

sub httpd_alive {
    return 0 unless $httpd->{pid};
    my $r = waitpid $httpd->{pid}, WNOHANG;
    if ($r == $httpd->{pid}) {
        $httpd_died = $?;
        delete $httpd->{pid};
        event(sprintf 'httpd parent exited during the load (wait status %d)', $httpd_died);
        return 0;
    }
    return 1;
}

sub error_log_count {
    my ($re) = @_;
    my $n = () = slurp("$hdir/error_log") =~ /$re/g;
    return $n;
}

my $graceful_n = 0;
my %action = (
    slapd_kill => sub {
        kill 'KILL', $slapd->{pid} if $slapd->{pid};
        $fault{ldap_down} = time;
        event("slapd SIGKILL (pid $slapd->{pid})", $fault{ldap_down});
        return $fault{ldap_down};
    },
    slapd_restart => sub {
        my $t = time;
        my $ok = eval { slapd_restart($slapd, timeout => 10); 1 };
        if (!$ok) {
            push @problems, "slapd did not restart: $@";
            event('slapd restart FAILED');
            return;
        }
        $fault{ldap_back} = time;
        event(sprintf('slapd restarted, same data and port, accepting connections (pid %d, took %.2f s)',
                      $slapd->{pid}, $fault{ldap_back} - $t), $fault{ldap_back});
        return $fault{ldap_back};
    },
    slapd_stop => sub {
        slapd_pause($slapd);
        $fault{ldap_hung} = time;
        event("slapd SIGSTOP (pid $slapd->{pid})", $fault{ldap_hung});
        return $fault{ldap_hung};
    },
    slapd_cont => sub {
        slapd_resume($slapd);
        $fault{ldap_resumed} = time;
        event("slapd SIGCONT", $fault{ldap_resumed});
        return $fault{ldap_resumed};
    },
    redis_stop => sub {
        event("redis SIGTERM (pid $redis->{pid})");
        redis_stop($redis);
        # redis answers until it has exited: "down" starts there
        $fault{redis_down} = time;
        event('redis exited', $fault{redis_down});
        return $fault{redis_down};
    },
    redis_start => sub {
        my $t = time;
        my $r = eval { redis_start(port => $redis_port, timeout => 10) };
        if (!$r) {
            push @problems, "redis did not restart: $@";
            event('redis restart FAILED');
            return;
        }
        $redis = $r;
        $fault{redis_back} = time;
        event(sprintf('redis restarted on the same port, empty (pid %d, took %.2f s)',
                      $redis->{pid}, $fault{redis_back} - $t), $fault{redis_back});
        return $fault{redis_back};
    },
    graceful => sub {
        if (!httpd_alive()) { event('graceful restart skipped: httpd is not running'); return }
        $graceful_n++;
        my $before = error_log_count(qr/resuming normal operations/);
        kill 'USR1', $httpd->{pid};
        my $t = time;
        $fault{"graceful$graceful_n"} = $t;
        event("httpd SIGUSR1 (graceful restart $graceful_n)", $t);
        # bounded: the phase goes on either way
        my $deadline = $t + 8;
        while (time < $deadline) {
            if (error_log_count(qr/resuming normal operations/) > $before) {
                event(sprintf 'httpd: resuming normal operations (%.2f s after SIGUSR1)', time - $t);
                return $t;
            }
            sleep 0.05;
        }
        push @problems, "no 'resuming normal operations' within 8 s of graceful restart $graceful_n";
        return $t;
    },
);

event('load started');
my $t = $t0;
for my $p (@PHASES) {
    my ($name, $secs, $act) = @$p;
    # a phase starts at the instant of its fault (or of the fault's end)
    my $at = $act ? $action{$act}->() : $t0;
    push @phase_at, [ $name, $at // time ];
    # the phase's length counts from its planned start: a slow action does not
    # stretch the run
    $t += $secs;
    while (time < $t) {
        httpd_alive();
        for my $pid (keys %workers) {
            if (waitpid($pid, WNOHANG) == $pid) {
                push @problems, "load worker $workers{$pid} exited early (status $?)";
                delete $workers{$pid};
            }
        }
        sleep min(0.2, max(0.01, $t - time));
    }
}
my $t_load_end = time;
stop_workers();
event('load stopped');

# ---------------------------------------------------------------------------
# The end: SIGTERM to httpd

my ($exit_status, $stop_secs);
if ($httpd->{pid}) {
    event('httpd SIGTERM');
    ($exit_status, $stop_secs) = stop_httpd(20);
    event(defined $exit_status ? sprintf('httpd exited (wait status %d, %.2f s after SIGTERM)', $exit_status, $stop_secs)
                               : 'httpd did not exit within 20 s of SIGTERM: SIGKILL');
}
else {
    $exit_status = $httpd_died;
}

# ---------------------------------------------------------------------------
# Results

my @R;    # { t0, t1, kind, user, st, err, id, lat, res, phase }
for my $f (glob "$reqlog_dir/w*.tsv") {
    open my $fh, '<', $f or next;
    while (<$fh>) {
        chomp;
        my @f = split /\t/;
        next unless @f == 7;
        push @R, { t0 => $f[0], t1 => $f[1], kind => $f[2], user => $f[3], st => $f[4],
                   err => $f[5] eq '-' ? '' : $f[5], id => $f[6], lat => $f[1] - $f[0] };
    }
}
@R = sort { $a->{t0} <=> $b->{t0} } @R;

# the module's verdict per request, from the access log
my %res;
for (split /\n/, slurp("$hdir/access_log")) {
    $res{$2} = $1 if /^\d{3} (\S+) .*[?&]r=([\w-]+)/;
}
for my $r (@R) {
    $r->{res} = $res{ $r->{id} } // '';
    $r->{phase} = $phase_at[0][0];
    for (@phase_at) { $r->{phase} = $_->[0] if $r->{t0} >= $_->[1] }
}

my @report;
sub out { push @report, @_ ? join('', @_) : '' }

my $rel = sub { sprintf '%.2f', $_[0] - $t0 };
out(sprintf 'mod_proxyauth_ldap soak test: %d workers x %g req/s, %d requests in %.0f s, %d users in the directory',
    $opt{workers}, $opt{rate}, scalar @R, $t_load_end - $t0, scalar keys %PW);
out('ProxyAuthCache redis, ProxyAuthLDAPTimeout ' . LDAP_TIMEOUT . ', event MPM; a new TCP connection per request');
out();
out('Events (seconds since the load started):');
out(sprintf '  %8s  %s', $rel->($_->[0]), $_->[1]) for @events;
out();

# Table: requests by status per phase and kind.
my %statuses;
for my $r (@R) { $statuses{ $r->{st} ? $r->{st} : 'no answer' }++ }
my @cols = sort { ($a eq 'no answer') <=> ($b eq 'no answer') || $a cmp $b } keys %statuses;
my $hdr = sprintf '%-16s %-9s %6s', 'phase', 'kind', 'total';
$hdr .= sprintf ' %9s', $_ for @cols;
$hdr .= sprintf ' %8s %8s', 'p50 ms', 'max ms';
out('Requests by status, per phase (by the request\'s start) and kind:');
out($hdr);
out('-' x length $hdr);
for my $ph (map { $_->[0] } @phase_at) {
    for my $k (@KINDS) {
        my @s = grep { $_->{phase} eq $ph && $_->{kind} eq $k } @R;
        next unless @s;
        my %c;
        $c{ $_->{st} ? $_->{st} : 'no answer' }++ for @s;
        my @lat = sort { $a <=> $b } map { $_->{lat} } @s;
        my $line = sprintf '%-16s %-9s %6d', $ph, $k, scalar @s;
        $line .= sprintf ' %9s', $c{$_} // '-' for @cols;
        $line .= sprintf ' %8.0f %8.0f', 1000 * $lat[int($#lat / 2)], 1000 * $lat[-1];
        out($line);
    }
}
my %errs;
$errs{ $_->{err} }++ for grep { $_->{err} } @R;
out('client-side errors: ' . join(', ', map { "$errs{$_} x $_" } sort keys %errs)) if %errs;
out();

# ---------------------------------------------------------------------------
# Invariants

my @verdicts;
sub verdict {
    my ($n, $title, $ok, @lines) = @_;
    push @verdicts, $ok;
    out(sprintf '(%d) %s: %s', $n, $ok ? 'PASS' : 'FAIL', $title);
    out("    $_") for @lines;
}
sub count_by {
    my ($f, @s) = @_;
    my %c;
    $c{ $f->($_) }++ for @s;
    return join(', ', map { "$c{$_} x $_" } sort keys %c) || 'none';
}
my $st_of = sub { $_[0]{st} ? $_[0]{st} . ($_[0]{err} ? " ($_[0]{err})" : '') : "no answer ($_[0]{err})" };
my $in = sub { my ($r, $from, $to) = @_; defined $from && defined $to && $r->{t0} >= $from && $r->{t0} <= $to };
my $fmt_lat = sub { @_ ? sprintf('%.3f s', max(@_)) : 'n/a' };

# the LDAP faults: [label, start, end (slapd usable again), end of its recovery phase]
my $phase_start = sub { my ($name) = @_; (map { $_->[1] } grep { $_->[0] eq $name } @phase_at)[0] };
my @ldap_faults = (
    [ 'slapd killed',  $fault{ldap_down}, $fault{ldap_back},    $phase_start->('slapd hung') ],
    [ 'slapd hung',    $fault{ldap_hung}, $fault{ldap_resumed}, $phase_start->('redis stopped') ],
);

out('Invariants:');

# (1) no crash
{
    my $log = slurp("$hdir/error_log") . slurp("$hdir/stderr.log");
    my @bad = grep { /Segmentation fault|exit signal|AH00052/ } split /\n/, $log;
    my $how = !defined $exit_status ? 'did not exit within 20 s of SIGTERM (killed)'
            : $exit_status == -1 ? 'exit status unknown'
            : $exit_status & 127 ? sprintf('killed by signal %d%s', $exit_status & 127,
                                           ($exit_status & 127) == 11 ? ' (SIGSEGV)' : '')
            : sprintf('exit status %d', $exit_status >> 8);
    my $when = defined $httpd_died ? 'during the load (before SIGTERM)' : sprintf('after SIGTERM%s',
               defined $stop_secs ? sprintf(' (%.2f s)', $stop_secs) : '');
    my @lines = ("httpd parent: $how $when",
                 sprintf('error_log lines with "Segmentation fault" / "exit signal" / "AH00052": %d', scalar @bad));
    push @lines, map { "  $_" } @bad[0 .. min($#bad, 4)];
    verdict(1, 'no crash', (defined $exit_status && $exit_status == 0 && !defined $httpd_died && !@bad), @lines);
}

# (2) wrong passwords and unknown users are never let through
{
    my @s = grep { $_->{kind} eq 'wrong' || $_->{kind} eq 'unknown' } @R;
    my @through = grep { $_->{st} == 200 } @s;
    # the directory counts as unusable from the fault to its end plus the
    # contract's recovery allowance
    my $unusable = sub {
        my ($r) = @_;
        for (@ldap_faults) {
            return 1 if defined $_->[1] && $r->{t0} >= $_->[1]
                     && $r->{t0} <= ($_->[2] // $t_load_end) + RECOVERY_SECS;
        }
        return 0;
    };
    my @ok503  = grep { $_->{st} == 503 && $unusable->($_) } @s;
    my @bad503 = grep { $_->{st} == 503 && !$unusable->($_) } @s;
    my @other  = grep { $_->{st} != 200 && $_->{st} != 407 && $_->{st} != 503 } @s;
    my @lines = (sprintf('%d wrong-password and %d unknown-user requests: %d x 200 (let through), %d x 407, '
                         . '%d x 503 while the directory was down or hung (+%d s)',
                         scalar(grep { $_->{kind} eq 'wrong' } @s), scalar(grep { $_->{kind} eq 'unknown' } @s),
                         scalar @through, scalar(grep { $_->{st} == 407 } @s), scalar @ok503, RECOVERY_SECS),
                 sprintf('503 while the directory was usable: %d%s', scalar @bad503,
                         @bad503 ? ' (' . count_by(sub { $_[0]{phase} }, @bad503) . ')' : ''),
                 sprintf('other answers: %s', @other ? count_by($st_of, @other) : 'none'));
    push @lines, map { sprintf '  let through: %s %s at +%.2f s', $_->{kind}, $_->{user}, $_->{t0} - $t0 } @through[0 .. min($#through, 4)];
    verdict(2, 'no request let through unchecked (wrong/unknown: 407, or 503 while the directory is unusable)',
            !@through && !@bad503 && !@other, @lines);
}

# (3) cached users while LDAP is down or hung
{
    my (@lines, $ok);
    $ok = 1;
    for my $f (@ldap_faults) {
        my ($label, $from, $to) = @$f;
        if (!defined $from || !defined $to) { push @lines, "$label: fault not applied"; $ok = 0; next }
        my @s = grep { $_->{kind} eq 'cached' && $in->($_, $from, $to) } @R;
        my @bad = grep { $_->{st} != 200 || $_->{err} } @s;
        $ok = 0 if @bad || !@s;
        push @lines, sprintf('%s (%.1f s): %d cached-user requests, %d x 200, not 200: %s; max latency %s',
                             $label, $to - $from, scalar @s, @s - @bad, @bad ? count_by($st_of, @bad) : 'none',
                             $fmt_lat->(map { $_->{lat} } @s));
    }
    verdict(3, 'cached users always 200 while LDAP is down or hung', $ok, @lines);
}

# (4) uncached users while LDAP is down or hung: 503 within Timeout + 1 s
{
    my (@lines, $ok);
    $ok = 1;
    for my $f (@ldap_faults) {
        my ($label, $from, $to) = @$f;
        if (!defined $from || !defined $to) { push @lines, "$label: fault not applied"; $ok = 0; next }
        # only requests that had their whole budget inside the fault
        my @s = grep { $_->{kind} eq 'uncached' && $in->($_, $from, $to - MAX_503_SECS) } @R;
        my @s503 = grep { $_->{st} == 503 } @s;
        my @slow = grep { $_->{lat} > MAX_503_SECS } @s503;
        my @n407 = grep { $_->{st} == 407 } @s;
        my @other = grep { $_->{st} != 503 && $_->{st} != 407 } @s;
        $ok = 0 if !@s || @slow || @n407 || @other;
        push @lines, sprintf('%s: %d uncached requests started from the fault to %d s before its end: '
                             . '%d x 503 (max latency %s, %d over %d s), %d x 407, other: %s',
                             $label, scalar @s, MAX_503_SECS, scalar @s503, $fmt_lat->(map { $_->{lat} } @s503),
                             scalar @slow, MAX_503_SECS, scalar @n407, @other ? count_by($st_of, @other) : 'none');
    }
    verdict(4, sprintf('uncached users get 503 (never 407) within %d s while LDAP is down or hung', MAX_503_SECS),
            $ok, @lines);
}

# (5) recovery
{
    my (@lines, $ok);
    $ok = 1;
    for my $f (@ldap_faults) {
        my ($label, $from, $to, $next) = @$f;
        if (!defined $to) { push @lines, "$label: never ended"; $ok = 0; next }
        $next //= $t_load_end;
        my $back = $label eq 'slapd killed' ? 'slapd restarted' : 'slapd resumed (SIGCONT)';
        my @after = grep { $_->{kind} eq 'uncached' && $_->{t0} >= $to && $_->{t1} <= $next } @R;
        my ($first) = sort { $a->{t1} <=> $b->{t1} } grep { $_->{st} == 200 } @after;
        my @late = grep { $_->{t0} > $to + RECOVERY_SECS } @after;
        my @late503 = grep { $_->{st} == 503 } @late;
        my @lateother = grep { $_->{st} != 200 && $_->{st} != 503 } @late;
        my ($last503) = sort { $b->{t1} <=> $a->{t1} } grep { $_->{st} == 503 } @after;
        my $delay = $first ? $first->{t1} - $to : undef;
        $ok = 0 if !defined $delay || $delay > RECOVERY_SECS || @late503 || @lateother;
        push @lines, sprintf('%s: first 200 of an uncached user %s; %d uncached requests started more than '
                             . '%d s after it (in the %.0f s until the next phase): %d x 503, other non-200: %s%s',
                             $back,
                             defined $delay ? sprintf('%.2f s after it', $delay)
                                            : sprintf('never (none in the %.0f s until the next phase)', $next - $to),
                             scalar @late, RECOVERY_SECS, $next - $to, scalar @late503,
                             @lateother ? count_by($st_of, @lateother) : 'none',
                             $last503 ? sprintf('; last 503 at %.2f s after it', $last503->{t1} - $to) : '');
    }
    verdict(5, sprintf('recovery: uncached users get 200 again within %d s after slapd is back', RECOVERY_SECS),
            $ok, @lines);
}

# (6) redis down
{
    my ($from, $to) = ($fault{redis_down}, $fault{redis_back} // $phase_start->('graceful 1'));
    my (@lines, $ok);
    if (!defined $from) { $ok = 0; push @lines, 'redis was not stopped' }
    else {
        my @s = grep { $in->($_, $from, $to) } @R;
        my @right = grep { $_->{kind} eq 'cached' || $_->{kind} eq 'uncached' } @s;
        my @wrong = grep { $_->{kind} eq 'wrong' || $_->{kind} eq 'unknown' } @s;
        my @rbad = grep { $_->{st} != 200 || $_->{err} } @right;
        my @wbad = grep { $_->{st} != 407 } @wrong;
        $ok = @right && @wrong && !@rbad && !@wbad;
        push @lines, sprintf('%.1f s with redis down: %d right-password requests: %d x 200, not 200: %s',
                             $to - $from, scalar @right, @right - @rbad, @rbad ? count_by($st_of, @rbad) : 'none'),
                     sprintf('  the 200s as the module logged them: %s',
                             count_by(sub { $_[0]{res} || '(no log line)' }, grep { $_->{st} == 200 } @right)),
                     sprintf('%d wrong-password/unknown-user requests: %d x 407, not 407: %s',
                             scalar @wrong, @wrong - @wbad, @wbad ? count_by($st_of, @wbad) : 'none'),
                     sprintf('max latency %s', $fmt_lat->(map { $_->{lat} } @s));
    }
    verdict(6, 'redis down: requests validated against LDAP (right password 200, wrong 407)', $ok, @lines);
}

# (7) graceful restarts
{
    my $from = $fault{graceful1};
    my (@lines, $ok);
    if (!defined $from) { $ok = 0; push @lines, 'no graceful restart was done' }
    else {
        my @s = grep { $_->{t1} >= $from && $_->{t0} <= $t_load_end } @R;
        my @x5 = grep { $_->{st} >= 500 } @s;
        my @noans = grep { !$_->{st} || $_->{err} } @s;
        my @unexp = grep { $_->{st} && $_->{st} < 500 && !$_->{err}
                           && $_->{st} != (($_->{kind} eq 'cached' || $_->{kind} eq 'uncached') ? 200 : 407) } @s;
        $ok = @s && !@x5 && !@noans && !@unexp;
        push @lines, sprintf('%d requests from the first SIGUSR1 (%d graceful restarts) to the end of the load: '
                             . '%d x 5xx, %d connection errors, %d other unexpected answers%s',
                             scalar @s, $graceful_n, scalar @x5, scalar @noans, scalar @unexp,
                             (@x5 || @noans || @unexp) ? ' (' . count_by(sub { "$_[0]{kind} " . $st_of->($_[0]) }, @x5, @noans, @unexp) . ')' : '');
    }
    verdict(7, 'no failed request across the graceful restarts', $ok, @lines);
}

if (@problems) {
    out();
    out('Also seen:');
    out("  $_") for @problems;
}
out();
my $passed = grep { $_ } @verdicts;
my $failed = @verdicts - $passed;
out("$passed passed, $failed failed");

my $text = join("\n", @report) . "\n";
print $text;

# what is kept
spew("$opt{out}/report.txt", $text);
{
    open my $fh, '>', "$opt{out}/requests.tsv" or die "soak: $!";
    print {$fh} "start_s\tlatency_s\tphase\tkind\tuser\tstatus\tclient_error\tmodule_result\tid\n";
    printf {$fh} "%.4f\t%.4f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", $_->{t0} - $t0, $_->{lat}, $_->{phase},
        $_->{kind}, $_->{user}, $_->{st}, $_->{err} || '-', $_->{res} || '-', $_->{id} for @R;
    close $fh;
    open $fh, '>', "$opt{out}/events.tsv" or die "soak: $!";
    print {$fh} "at_s\tevent\n";
    printf {$fh} "%.4f\t%s\n", $_->[0] - $t0, $_->[1] for @events;
    close $fh;
}
copy("$hdir/$_", "$opt{out}/$_") for grep { -e "$hdir/$_" } @OUT_FILES;
note("report and logs in $opt{out}");

exit($failed ? 1 : 0);
