package PALTest;

# Helpers for the mod_proxyauth_ldap test suite: a real slapd per instance,
# cn=Monitor operation counts, and clients for the forward proxy under test.
#
#   use FindBin;
#   use lib "$FindBin::Bin/lib";
#   use Apache::Test qw(-withtestmore);
#   use PALTest;
#
# Environment set by t/TEST (see t/TEST.PL) before httpd and the tests start:
#   PAL_TMP             0755 folder outside the checkout, removed after the run
#   PAL_CA_FILE         CA that signed the fixture slapd's certificate
#   PAL_WRONG_CA_FILE   an unrelated CA (verification against it must fail)
#   PAL_TLS_CERT, PAL_TLS_KEY   the slapd server certificate and key
#                       (SAN IP:127.0.0.1, DNS:localhost), for slapd_start
#   PAL_LDAP_PORT       fixture slapd: ldap:// (plain and StartTLS)
#   PAL_LDAPS_PORT      fixture slapd: ldaps://
#   PAL_LDAP_DEAD_PORT  a loopback port where nothing listens
#   PAL_LDAP_HUNG_PORT  a loopback port that accepts connections and never answers
#   PAL_LDAP_SPARE_PORT, PAL_LDAPS_SPARE_PORT, PAL_LDAP_SPARE2_PORT,
#   PAL_LDAPS_SPARE2_PORT   free ports reserved for a slapd that a test starts,
#                       stops and restarts itself: slapd_start(ports => {
#                       ldap => $ENV{PAL_LDAP_SPARE_PORT}, ldaps => $ENV{PAL_LDAPS_SPARE_PORT}})
#   PAL_REDIS_PORT      a redis-server for the run (when redis-server is installed)
#   PAL_SLAPD_DIR       the fixture slapd's folder (do not stop that instance)
#   PAL_MPM             event | worker | prefork
#   PAL_TIMEOUT_SCALE   factor for httpd start/stop waits (test-asan, -tsan, -valgrind)
#   PAL_HTTPD_PREFIX    words t/bin/httpd puts before apache2 (sanitizer targets)
#
# Directory data: t/fixtures/seed.ldif (users, passwords and groups are listed at
# its top); root DN cn=admin,dc=example,dc=test / admin-secret (ldap_admin()).
# Every process started here (slapd, redis, httpd) gets SIGTERM when the test
# process that started it exits (setpriv --pdeathsig).

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use Cwd qw(abs_path);
use Fcntl qw(:flock O_RDWR O_CREAT);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    slapd_start slapd_stop slapd_restart slapd_pause slapd_resume people_ldif
    monitor_counts
    proxy_ua proxy_hostport proxy_request basic connect_tunnel origin_hostport
    blackhole_listener free_port free_ports wait_for_port
    redis_start redis_stop httpd_start httpd_stop httpd_stop_signal main_httpd_pid
    httpd_configtest exit_status exit_status_text
    make_pki error_log_mark error_log_since
    ldap_admin unreachable_for_children
);

use constant SUFFIX     => 'dc=example,dc=test';
use constant SERVICE_DN => 'cn=proxy-svc,dc=example,dc=test';
use constant SERVICE_PW => 'svc-secret';
use constant ADMIN_DN   => 'cn=admin,dc=example,dc=test';
use constant ADMIN_PW   => 'admin-secret';

# The checkout's top folder (this file is t/lib/PALTest.pm).
our $TOP = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..'));

my %started;    # pid => handle, slapd instances started by this process
my $owner_pid = $$;

sub _run_logged {
    my ($log, @cmd) = @_;
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return $?;
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

sub _spew {
    my ($file, $text, $mode) = @_;
    open my $fh, '>', $file or croak "write $file: $!";
    print {$fh} $text;
    close $fh or croak "close $file: $!";
    chmod $mode, $file if defined $mode;
}

# A minimal seed for slapd_start: the suffix, ou=people, the service
# account and one inetOrgPerson per user => password pair (in key order).
sub people_ldif {
    my (%pw) = @_;
    my $ldif = <<'EOL';
dn: dc=example,dc=test
objectClass: dcObject
objectClass: organization
dc: example
o: Example Test

dn: ou=people,dc=example,dc=test
objectClass: organizationalUnit
ou: people

dn: cn=proxy-svc,dc=example,dc=test
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: proxy-svc
userPassword: svc-secret

EOL
    for my $u (sort keys %pw) {
        $ldif .= "dn: uid=$u,ou=people,dc=example,dc=test\nobjectClass: inetOrgPerson\n"
               . "uid: $u\ncn: User $u\nsn: $u\nuserPassword: $pw{$u}\n\n";
    }
    return $ldif;
}

sub _tail {
    my ($file, $n) = @_;
    my @l = split /\n/, _slurp($file);
    splice @l, 0, @l - $n if @l > $n;
    return join '', map { "    $_\n" } @l;
}

# free_ports($n) -> $n distinct loopback TCP ports that were free a moment ago
# (all bound at once, then closed; never one this process handed out before).
# free_port() -> one of them.
my %given;
sub free_ports {
    my ($n) = @_;
    my (@socks, @ports);
    while (@ports < ($n // 1)) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1)
            or croak "free_ports: $!";
        push @socks, $s;
        my $p = $s->sockport;
        next if $given{$p}++;
        push @ports, $p;
    }
    close $_ for @socks;
    return @ports;
}

sub free_port { return (free_ports(1))[0] }

# wait_for_port($port, $timeout = 5): true once a TCP connect to 127.0.0.1:$port works.
sub wait_for_port {
    my ($port, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1);
        if ($s) { close $s; return 1 }
        return 0 if time > $deadline;
        sleep 0.02;
    }
}

# ---------------------------------------------------------------------------
# Test PKI

# make_pki($dir): a test CA, a slapd server certificate from it (SAN IP:127.0.0.1,
# DNS:localhost, EC P-256) and an unrelated "wrong" CA. Returns a hashref of paths:
# ca, ca_key, cert, key, wrong_ca, wrong_ca_key. Certificates are 0644, keys 0600.
sub make_pki {
    my ($dir) = @_;
    make_path($dir, { mode => 0755 });
    chmod 0755, $dir;
    my %p = (
        ca           => "$dir/ca.crt",
        ca_key       => "$dir/ca.key",
        cert         => "$dir/server.crt",
        key          => "$dir/server.key",
        wrong_ca     => "$dir/wrong-ca.crt",
        wrong_ca_key => "$dir/wrong-ca.key",
    );
    # libldap checks "ldap://localhost" against the name that 127.0.0.1 maps back
    # to (here the machine's host name), so that name goes in the SAN too.
    my $san = 'IP:127.0.0.1,DNS:localhost';
    my $hn = (POSIX::uname())[1] // '';
    $san .= ",DNS:$hn" if $hn =~ /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/ && $hn ne 'localhost';
    my $cnf = "$dir/openssl.cnf";
    _spew($cnf, <<"EOC");
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOC
    my $log = "$dir/openssl.log";
    my @key = (qw(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes));
    my @steps = (
        [qw(openssl req -x509 -new), @key, -keyout => $p{ca_key}, -out => $p{ca},
         -days => 7, -config => $cnf, -extensions => 'v3_ca',
         -subj => '/O=mod_proxyauth_ldap tests/CN=PAL Test CA'],
        [qw(openssl req -x509 -new), @key, -keyout => $p{wrong_ca_key}, -out => $p{wrong_ca},
         -days => 7, -config => $cnf, -extensions => 'v3_ca',
         -subj => '/O=mod_proxyauth_ldap tests/CN=PAL Wrong CA'],
        [qw(openssl req -new), @key, -keyout => $p{key}, -out => "$dir/server.csr",
         -config => $cnf, -subj => '/O=mod_proxyauth_ldap tests/CN=localhost'],
        [qw(openssl x509 -req), -in => "$dir/server.csr", -CA => $p{ca},
         -CAkey => $p{ca_key}, -set_serial => sprintf('0x%x%06x', time, $$),
         -days => 7, -extfile => $cnf, -extensions => 'v3_server', -out => $p{cert}],
    );
    for my $cmd (@steps) {
        _run_logged($log, @$cmd) == 0
            or croak "make_pki: '@$cmd' failed:\n" . _tail($log, 20);
    }
    chmod 0644, @p{qw(ca cert wrong_ca)};
    chmod 0600, @p{qw(ca_key key wrong_ca_key)};
    return \%p;
}

# ---------------------------------------------------------------------------
# slapd

sub _base_tmp {
    return $ENV{PAL_TMP} if $ENV{PAL_TMP} && -d $ENV{PAL_TMP};
    # Outside t/TEST (e.g. a test run alone with perl): a private folder.
    our $private_tmp ||= File::Temp::tempdir('pal-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
    return $private_tmp;
}

sub _slapd_conf {
    my ($h) = @_;
    my $dir = $h->{dir};
    my $monitor_module = -e '/usr/lib/ldap/back_monitor.la' ? "moduleload back_monitor\n" : '';
    my $tls = '';
    if ($h->{tls}) {
        $tls = "TLSCACertificateFile $h->{tls}{ca}\n"
             . "TLSCertificateFile $h->{tls}{cert}\n"
             . "TLSCertificateKeyFile $h->{tls}{key}\n";
    }
    my $extra_global = $h->{global_conf} // '';
    my $extra_db     = $h->{db_conf} // '';
    my $suffix = SUFFIX;
    my $admin = ADMIN_DN;
    my $admin_pw = ADMIN_PW;
    return <<"EOC";
# Generated by t/lib/PALTest.pm for one test slapd instance.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema

pidfile  $dir/slapd.pid
argsfile $dir/slapd.args

modulepath /usr/lib/ldap
moduleload back_mdb
$monitor_module
$tls
$extra_global

database mdb
suffix "$suffix"
rootdn "$admin"
rootpw $admin_pw
directory $dir/data
maxsize 268435456
dbnosync
index objectClass eq
index uid,cn eq,pres,sub
index member,uniqueMember eq
# userPassword: users may change their own, anonymous may bind, nobody reads it.
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
# The data tree: readable by anonymous and by every bound identity
# (the service account cn=proxy-svc included).
access to *
    by * read
$extra_db

database monitor
access to dn.subtree="cn=Monitor"
    by * read
EOC
}

# slapd_start(%opts) -> handle
#   dir      => folder of an existing instance: reuse its data (no new seed)
#   ports    => { ldap => N, ldaps => M } (default: free ports)
#   loglevel => slapd -d level written to DIR/slapd.log (default 0; e.g. 'stats', 256)
#   seed     => LDIF file for a new instance (default t/fixtures/seed.ldif)
#   tls      => 0 for no TLS and no ldaps listener; default: on when a certificate
#               exists (cert/key/ca options or PAL_TLS_CERT/PAL_TLS_KEY/PAL_CA_FILE)
#   cert, key, ca => certificate files for TLS
#   global_conf, db_conf => extra slapd.conf text (global / inside the mdb database)
#   timeout  => seconds to wait until ldap:// accepts connections (default 5)
# The handle is a hashref: pid, dir, conf, log, ldap_port, ldaps_port (0 without
# TLS), ports => {ldap, ldaps}, url (ldap://127.0.0.1:PORT), ldaps_url.
sub slapd_start {
    my (%o) = @_;
    my $dir = $o{dir};
    my $new = !$dir || !-e "$dir/data/data.mdb";
    $dir ||= File::Temp::tempdir('slapd-XXXXXX', DIR => _base_tmp(), CLEANUP => 0);
    make_path("$dir/data", { mode => 0700 });

    my %saved;
    if (!$new && -e "$dir/instance") {
        %saved = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/, _slurp("$dir/instance");
    }

    my $tls;
    my $want_tls = $o{tls} // 1;
    if ($want_tls) {
        my %t = (cert => $o{cert} // $ENV{PAL_TLS_CERT},
                 key  => $o{key}  // $ENV{PAL_TLS_KEY},
                 ca   => $o{ca}   // $ENV{PAL_CA_FILE});
        if (grep { !defined $_ || !-r $_ } values %t) {
            croak "slapd_start: tls requested but no certificate (cert/key/ca)" if $o{tls};
        }
        else {
            $tls = \%t;
        }
    }

    my ($p1, $p2) = free_ports(2);
    my $ldap_port  = $o{ports}{ldap}  || $saved{ldap_port}  || $p1;
    my $ldaps_port = !$tls ? 0
                   : $o{ports}{ldaps} || $saved{ldaps_port} || $p2;

    my $h = {
        dir         => $dir,
        conf        => "$dir/slapd.conf",
        log         => "$dir/slapd.log",
        ldap_port   => $ldap_port,
        ldaps_port  => $ldaps_port,
        ports       => { ldap => $ldap_port, ldaps => $ldaps_port },
        url         => "ldap://127.0.0.1:$ldap_port",
        ldaps_url   => $ldaps_port ? "ldaps://127.0.0.1:$ldaps_port" : undef,
        tls         => $tls,
        loglevel    => $o{loglevel} // 0,
        global_conf => $o{global_conf},
        db_conf     => $o{db_conf},
    };

    _spew($h->{conf}, _slapd_conf($h), 0600);
    _spew("$dir/instance", "ldap_port=$ldap_port\nldaps_port=$ldaps_port\n");

    if ($new) {
        my $seed = $o{seed} // "$TOP/t/fixtures/seed.ldif";
        _run_logged($h->{log}, 'slapadd', '-q', '-f', $h->{conf}, '-l', $seed) == 0
            or croak "slapd_start: slapadd of $seed failed:\n" . _tail($h->{log}, 20);
    }

    my @urls = ("ldap://127.0.0.1:$ldap_port/");
    push @urls, "ldaps://127.0.0.1:$ldaps_port/" if $ldaps_port;

    my $pid = fork // croak "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $h->{log} or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        # setpriv: slapd gets SIGTERM when this process dies, however it dies.
        exec 'setpriv', '--pdeathsig', 'TERM', '--',
             'slapd', '-d', $h->{loglevel}, '-f', $h->{conf}, '-h', join(' ', @urls)
            or POSIX::_exit(127);
    }
    $h->{pid} = $pid;
    $h->{owner} = $$;

    my $deadline = time + ($o{timeout} // 5);
    my $probes = 0;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            croak "slapd_start: slapd exited (status $?) at start:\n" . _tail($h->{log}, 25);
        }
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ldap_port,
                                      Proto => 'tcp', Timeout => 1);
        if ($s) { $probes++; close $s; last }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            croak "slapd_start: slapd not listening on $ldap_port after "
                . ($o{timeout} // 5) . " s:\n" . _tail($h->{log}, 25);
        }
        sleep 0.02;
    }
    # The counters of a new slapd process start at 0: reset the ledger of the
    # harness's own connections/searches (monitor_counts subtracts them).
    _ledger_reset($ldap_port, $probes);
    $started{$pid} = $h;
    return $h;
}

# slapd_stop($handle): SIGTERM (and SIGCONT, in case it was paused), wait up to
# 5 s, then SIGKILL. The data folder stays, so slapd_restart/slapd_start(dir =>)
# can bring the same directory back.
sub slapd_stop {
    my ($h) = @_;
    my $pid = $h->{pid} or return;
    if (kill 0, $pid) {
        kill 'TERM', $pid;
        kill 'CONT', $pid;
        my $deadline = time + 5;
        while (time < $deadline) {
            my $r = waitpid $pid, WNOHANG;
            last if $r == $pid || $r == -1;
            sleep 0.02;
        }
        if (kill 0, $pid) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
        }
    }
    else {
        waitpid $pid, WNOHANG;
    }
    delete $started{$pid};
    delete $h->{pid};
    return 1;
}

# slapd_restart($handle, %opts): stop (if running) and start again on the same
# ports with the same data; returns the handle (updated in place: new pid).
sub slapd_restart {
    my ($h, %o) = @_;
    slapd_stop($h) if $h->{pid};
    my $n = slapd_start(dir => $h->{dir}, ports => { %{ $h->{ports} } },
                        loglevel => $h->{loglevel},
                        global_conf => $h->{global_conf}, db_conf => $h->{db_conf},
                        ($h->{tls} ? (%{ $h->{tls} }) : (tls => 0)), %o);
    %$h = %$n;
    return $h;
}

# slapd_pause / slapd_resume: SIGSTOP / SIGCONT. A paused slapd still completes
# TCP handshakes (the kernel does) but never answers: a hung directory.
sub slapd_pause  { my ($h) = @_; kill 'STOP', $h->{pid} if $h->{pid}; }
sub slapd_resume { my ($h) = @_; kill 'CONT', $h->{pid} if $h->{pid}; }

END {
    if ($$ == $owner_pid) {
        local $?;
        slapd_stop($_) for values %started;
    }
}

# ---------------------------------------------------------------------------
# cn=Monitor

# The ledger counts the connections and Search operations that this harness
# itself made against one slapd process (start-up probe, monitor reads), in all
# processes of the run, so monitor_counts can leave them out.
sub _ledger_file { return _base_tmp() . "/monitor-ledger.$_[0]" }

sub _ledger_reset {
    my ($port, $conns) = @_;
    _spew(_ledger_file($port), "0 $conns\n", 0644);
    our %reader;
    if (my $r = delete $reader{$port}) { eval { $r->disconnect } }
}

sub _ledger_update {
    my ($port, $searches, $conns) = @_;
    sysopen my $fh, _ledger_file($port), O_RDWR | O_CREAT or croak "ledger: $!";
    flock $fh, LOCK_EX or croak "ledger lock: $!";
    my $line = <$fh> // '';
    my ($s, $c) = $line =~ /^(\d+) (\d+)/ ? ($1, $2) : (0, 0);
    my ($ns, $nc) = ($s + $searches, $c + $conns);
    seek $fh, 0, 0;
    truncate $fh, 0;
    print {$fh} "$ns $nc\n";
    close $fh;
    return ($s, $c);    # the values before this update
}

# monitor_counts($port) -> { bind, search, connections_total, connections_current,
#                            raw => {...} }        ($port defaults to PAL_LDAP_PORT)
#
# Read from cn=Monitor of the slapd listening on 127.0.0.1:$port, anonymously
# (no Bind operation of its own), exact as follows:
#   bind                 Bind operations completed since that slapd process started
#                        (all of them: service binds, user binds, failed binds).
#   search               Search operations completed since start, NOT counting any
#                        search made by monitor_counts itself (neither this call's
#                        read, which is still in progress while slapd reports,
#                        nor earlier reads, from any test process of this run).
#   connections_total    connections accepted since start, not counting the
#                        start-up probe of slapd_start nor monitor_counts' own.
#   connections_current  connections open now, not counting monitor_counts' own
#                        (a connection closed by its client a moment ago may still
#                        be counted until slapd has noticed the close).
#   raw                  the unadjusted monitor values (*_initiated included).
# Before it reports, it waits (up to 2 s) until no Bind or Search operation is in
# progress except its own, so operations of requests that already got their answer
# are counted. One reader connection per process and port is kept open and reused
# (it counts once in the ledger).
sub monitor_counts {
    my ($port) = @_;
    $port //= $ENV{PAL_LDAP_PORT};
    require Net::LDAP;
    local $SIG{PIPE} = 'IGNORE';    # a kept connection to a restarted slapd
    our %reader;
    my ($ldap, $mine_searches, $mine_conns) = ($reader{$port}, 0, 0);

    my $read = sub {
        my $mesg = $ldap->search(
            base   => 'cn=Monitor',
            scope  => 'sub',
            filter => '(|(cn=Bind)(cn=Search)(cn=Total)(cn=Current))',
            attrs  => [qw(monitorOpInitiated monitorOpCompleted monitorCounter)],
        );
        return undef if $mesg->code;
        my %raw;
        for my $e ($mesg->entries) {
            my $dn = lc $e->dn;
            $dn =~ s/\s+//g;
            if ($dn eq 'cn=bind,cn=operations,cn=monitor') {
                $raw{bind_initiated} = $e->get_value('monitorOpInitiated');
                $raw{bind_completed} = $e->get_value('monitorOpCompleted');
            }
            elsif ($dn eq 'cn=search,cn=operations,cn=monitor') {
                $raw{search_initiated} = $e->get_value('monitorOpInitiated');
                $raw{search_completed} = $e->get_value('monitorOpCompleted');
            }
            elsif ($dn eq 'cn=total,cn=connections,cn=monitor') {
                $raw{connections_total} = $e->get_value('monitorCounter');
            }
            elsif ($dn eq 'cn=current,cn=connections,cn=monitor') {
                $raw{connections_current} = $e->get_value('monitorCounter');
            }
        }
        return (grep { !defined $raw{$_} } qw(bind_completed search_completed
                       connections_total connections_current)) ? undef : \%raw;
    };

    my $raw;
    for my $attempt (1, 2) {
        if (!$ldap) {
            $ldap = Net::LDAP->new('127.0.0.1', port => $port, timeout => 5)
                or croak "monitor_counts: cannot connect to 127.0.0.1:$port: $@";
            $mine_conns++;
            $reader{$port} = $ldap;
        }
        my $deadline = time + 2;
        while (1) {
            $raw = eval { $read->() };
            last unless $raw;
            $mine_searches++;
            last if $raw->{bind_initiated} == $raw->{bind_completed}
                 && $raw->{search_initiated} == $raw->{search_completed} + 1;
            last if time > $deadline;
            sleep 0.01;
        }
        last if $raw;
        # A kept connection to an instance that was restarted: connect again.
        delete $reader{$port};
        eval { $ldap->disconnect };
        undef $ldap;
    }
    croak "monitor_counts: cannot read cn=Monitor on 127.0.0.1:$port" unless $raw;

    my ($led_s, $led_c) = _ledger_update($port, $mine_searches, $mine_conns);
    return {
        bind                => $raw->{bind_completed} + 0,
        # completed searches minus earlier harness reads minus this call's
        # finished polls (its last read is in progress, not completed yet)
        search              => $raw->{search_completed} - $led_s - ($mine_searches - 1),
        connections_total   => $raw->{connections_total} - $led_c - $mine_conns,
        # the kept reader connection of this process is open
        connections_current => $raw->{connections_current} - 1,
        raw                 => $raw,
    };
}

# ldap_admin($port): a Net::LDAP connection bound as the root DN
# (cn=admin,dc=example,dc=test / admin-secret), for tests that change entries.
# Its Bind counts in monitor_counts.
sub ldap_admin {
    my ($port) = @_;
    require Net::LDAP;
    my $ldap = Net::LDAP->new('127.0.0.1', port => $port // $ENV{PAL_LDAP_PORT}, timeout => 5)
        or croak "ldap_admin: $@";
    my $m = $ldap->bind(ADMIN_DN, password => ADMIN_PW);
    croak "ldap_admin: bind: " . $m->error if $m->code;
    return $ldap;
}

# ---------------------------------------------------------------------------
# Other servers a test may need: redis, a second httpd

# _spawn($log, @cmd): child process with setpriv --pdeathsig TERM (it dies with
# this process), stdin from /dev/null, stdout+stderr appended to $log, in a
# session of its own: httpd's prefork MPM ends with kill(0 - its process group,
# SIGTERM), which would otherwise hit this test, t/TEST and make.
sub _spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec 'setpriv', '--pdeathsig', 'TERM', '--', @cmd or POSIX::_exit(127);
    }
    return $pid;
}

# _await($pid, $port, $timeout, $what, $log): wait until $port accepts connections.
sub _await {
    my ($pid, $port, $timeout, $what, $log) = @_;
    my $deadline = time + $timeout;
    while (1) {
        croak "$what exited (status $?) at start:\n" . _tail($log, 25)
            if waitpid($pid, WNOHANG) == $pid;
        return 1 if wait_for_port($port, 0);
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            croak "$what not listening on $port after $timeout s:\n" . _tail($log, 25);
        }
        sleep 0.02;
    }
}

# _stop_pid($pid, $timeout, $signal = 'TERM') -> the raw wait status of $pid
# (SIGKILL after $timeout s), or -1 when it was not a child any more.
sub _stop_pid {
    my ($pid, $timeout, $sig) = @_;
    return -1 unless $pid;
    kill $sig // 'TERM', $pid;
    kill 'CONT', $pid;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $r = waitpid $pid, WNOHANG;
        return $? if $r == $pid;
        return -1 if $r == -1;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    return waitpid($pid, 0) == $pid ? $? : -1;
}

# timeout_scale() -> PAL_TIMEOUT_SCALE (default 1): start and stop waits for
# httpd are multiplied by it (valgrind makes httpd several times slower);
# what a test asserts about timing is not.
sub timeout_scale {
    my $f = $ENV{PAL_TIMEOUT_SCALE} // 1;
    return $f =~ /^\d+(?:\.\d+)?$/ && $f >= 1 ? $f : 1;
}

# exit_status($raw) -> the shell's convention for a raw wait status: the exit
# code, or 128 + the signal number (139 for SIGSEGV); -1 stays -1.
# exit_status_text($raw) -> e.g. "exit 0", "killed by signal 11 (SIGSEGV)".
sub exit_status {
    my ($st) = @_;
    return -1 if !defined $st || $st < 0;
    return $st & 127 ? 128 + ($st & 127) : $st >> 8;
}

sub exit_status_text {
    my ($st) = @_;
    return 'not a child process (no status)' if !defined $st || $st < 0;
    if (my $sig = $st & 127) {
        require Config;
        my @names = split ' ', $Config::Config{sig_name};
        return sprintf 'killed by signal %d (SIG%s%s)', $sig, $names[$sig] // '?',
            $st & 128 ? ', core dumped' : '';
    }
    return 'exit ' . ($st >> 8);
}

my %others;    # pid => handle: redis and httpd instances of this process

# redis_start(%opts) -> handle { pid, port, dir, log }: a redis-server on
# 127.0.0.1 (no persistence), options: port (default free), timeout (5).
sub redis_start {
    my (%o) = @_;
    my $dir = File::Temp::tempdir('redis-XXXXXX', DIR => _base_tmp(), CLEANUP => 0);
    my $port = $o{port} || free_port();
    my $h = { dir => $dir, port => $port, log => "$dir/redis.log", kind => 'redis' };
    $h->{pid} = _spawn($h->{log}, 'redis-server', '--port', $port, '--bind', '127.0.0.1',
                       '--save', '', '--appendonly', 'no', '--dir', $dir,
                       '--daemonize', 'no');
    _await($h->{pid}, $port, $o{timeout} // 5, 'redis-server', $h->{log});
    $others{$h->{pid}} = $h;
    return $h;
}

sub redis_stop {
    my ($h) = @_;
    my $pid = delete $h->{pid} or return;
    _stop_pid($pid, 10);
    delete $others{$pid};
    return 1;
}

# httpd_start(conf => TEXT, %opts) -> handle { pid, port, dir, conf, error_log }
# A second httpd (apache2 -DFOREGROUND, a child of the test: httpd_stop gets
# its exit status; started through t/bin/httpd, so PAL_HTTPD_PREFIX applies) with the suite's
# LoadModule lines (t/conf/pal_base.conf: MPM, mod_proxy*, mod_proxyauth_ldap, ...),
# "Listen 127.0.0.1:PORT", its own ServerRoot/PidFile/ErrorLog (LogLevel info)
# and then TEXT, in which @PORT@ and @DIR@ are replaced. Options: port (default
# free), timeout (default 10). Children run as nobody/nogroup when root.
sub httpd_start {
    my (%o) = @_;
    my $base = "$TOP/t/conf/pal_base.conf";
    croak "httpd_start: $base missing (run through t/TEST)" unless -e $base;
    my $dir = File::Temp::tempdir('httpd-XXXXXX', DIR => _base_tmp(), CLEANUP => 0);
    chmod 0755, $dir;
    my $port = $o{port} || free_port();
    my $h = { dir => $dir, port => $port, conf => "$dir/httpd.conf",
              error_log => "$dir/error_log", kind => 'httpd' };
    my $text = $o{conf} // '';
    $text =~ s/\@PORT\@/$port/g;
    $text =~ s/\@DIR\@/$dir/g;
    my $user = $> == 0 ? "User nobody\nGroup " . (getgrgid((getpwnam('nobody'))[3]) // 'nogroup') . "\n" : '';
    _spew("$dir/mime.types", '');
    _spew($h->{conf}, _slurp($base) . <<"EOC" . $text . "\n");
ServerRoot "$dir"
ServerName 127.0.0.1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$h->{error_log}"
LogLevel info
TypesConfig "$dir/mime.types"
$user
Listen 127.0.0.1:$port
EOC
    my $httpd = eval { _vars()->{httpd} } || '/usr/sbin/apache2';
    $h->{pid} = _spawn("$dir/stderr.log", $httpd, '-DFOREGROUND', '-f', $h->{conf});
    _await($h->{pid}, $port, ($o{timeout} // 10) * timeout_scale(), 'httpd',
           -s $h->{error_log} ? $h->{error_log} : "$dir/stderr.log");
    $others{$h->{pid}} = $h;
    return $h;
}

# httpd_configtest($conf_text) -> ($exit_code, $output): `apache2 -t` on a
# throwaway config in a temp folder: the suite's LoadModule lines
# (t/conf/pal_base.conf), ServerRoot/ServerName/PidFile/ErrorLog there, then
# TEXT, in which @DIR@ is replaced by that folder. $output is stdout and
# stderr together. The folder is removed afterwards.
sub httpd_configtest {
    my ($text) = @_;
    my $base = "$TOP/t/conf/pal_base.conf";
    croak "httpd_configtest: $base missing (run through t/TEST)" unless -e $base;
    my $dir = File::Temp::tempdir('cfgtest-XXXXXX', DIR => _base_tmp(), CLEANUP => 0);
    $text //= '';
    $text =~ s/\@DIR\@/$dir/g;
    _spew("$dir/mime.types", '');
    _spew("$dir/httpd.conf", _slurp($base) . <<"EOC" . $text . "\n");
ServerRoot "$dir"
ServerName 127.0.0.1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LogLevel info
TypesConfig "$dir/mime.types"
EOC
    my $httpd = eval { _vars()->{httpd} } || '/usr/sbin/apache2';
    my $rc = _run_logged("$dir/output", $httpd, '-t', '-f', "$dir/httpd.conf");
    my $out = _slurp("$dir/output");
    File::Path::remove_tree($dir);
    return ($rc & 127 ? 128 + ($rc & 127) : $rc >> 8, $out);
}

# httpd_stop($handle, %opts) -> exit status of httpd's parent process: SIGTERM,
# wait (timeout => s, default 10), then SIGKILL. The status follows the shell
# (exit_status): 0 for a clean stop, 139 for a SIGSEGV, 137 when it had to be
# killed; -1 when there was nothing to stop. $handle->{status} keeps the raw
# wait status, $handle->{status_text} says it in words (for diag).
# httpd_stop_signal($handle, $signal, %opts): the same with another signal,
# e.g. WINCH (graceful-stop: httpd waits for requests in progress).
sub httpd_stop {
    my ($h, %o) = @_;
    return httpd_stop_signal($h, 'TERM', %o);
}

sub httpd_stop_signal {
    my ($h, $sig, %o) = @_;
    my $pid = delete $h->{pid} or return -1;
    my $st = _stop_pid($pid, ($o{timeout} // 10) * timeout_scale(), $sig);
    delete $others{$pid};
    $h->{status} = $st;
    $h->{status_text} = exit_status_text($st);
    return exit_status($st);
}

# main_httpd_pid() -> pid of the suite's httpd (t/logs/httpd.pid); e.g.
# kill 'USR1', main_httpd_pid() for a graceful restart.
sub main_httpd_pid {
    my $pid = _slurp(_vars()->{t_pid_file});
    $pid =~ s/\s+//g;
    return $pid;
}

END {
    if ($$ == $owner_pid) {
        local $?;
        _stop_pid($_, 10) for keys %others;
    }
}

# ---------------------------------------------------------------------------
# The proxy under test

sub _vars {
    require Apache::Test;
    return Apache::Test::vars();
}

# "127.0.0.1:PORT" of the proxy that proxy_ua, proxy_request and connect_tunnel
# use: the test httpd's main server, or $PALTest::PROXY_HOSTPORT when set, e.g.
#   local $PALTest::PROXY_HOSTPORT = "127.0.0.1:$h->{port}";   # an httpd_start one
our $PROXY_HOSTPORT;
sub proxy_hostport {
    return $PROXY_HOSTPORT if $PROXY_HOSTPORT;
    return '127.0.0.1:' . _vars()->{port};
}

# "127.0.0.1:PORT" of the <VirtualHost NAME> block of t/conf/*.conf.in
# (default name: origin).
sub origin_hostport {
    my ($name) = @_;
    my $port = _vars()->{ ($name // 'origin') . '_port' }
        or croak "no <VirtualHost " . ($name // 'origin') . "> in the test config";
    return "127.0.0.1:$port";
}

# proxy_ua(%opts): an LWP::UserAgent whose http:// and https:// requests go
# through the test httpd as forward proxy. Options: keep_alive => 1 (a
# connection cache of one connection, default off), timeout (default 30),
# any other LWP::UserAgent->new option.
sub proxy_ua {
    my (%o) = @_;
    require LWP::UserAgent;
    my $ka = delete $o{keep_alive};
    my $ua = LWP::UserAgent->new(
        timeout    => 30,
        keep_alive => $ka ? 1 : 0,
        %o,
    );
    $ua->no_proxy();
    $ua->proxy([qw(http https)], 'http://' . proxy_hostport() . '/');
    return $ua;
}

# basic($user, $pass): "Basic base64(user:pass)". Byte strings are sent as they
# are; character strings (use utf8) are encoded to UTF-8 first.
sub basic {
    my ($user, $pass) = @_;
    my $s = "$user:$pass";
    utf8::encode($s) if utf8::is_utf8($s);
    return 'Basic ' . encode_base64($s, '');
}

# proxy_request($method, $url, %headers) -> HTTP::Response, sent through the
# proxy (no keep-alive). A 'Content' key is the request body, not a header.
# Repeated headers: give an array ref as value.
sub proxy_request {
    my ($method, $url, %h) = @_;
    require HTTP::Request;
    my $content = delete $h{Content};
    my $req = HTTP::Request->new($method => $url);
    while (my ($k, $v) = each %h) {
        $req->push_header($k => $_) for ref $v eq 'ARRAY' ? @$v : ($v);
    }
    $req->content($content) if defined $content;
    our %ua;
    my $ua = $ua{ proxy_hostport() } ||= proxy_ua();
    return $ua->request($req);
}

# connect_tunnel($hostport, %headers) -> ($status_line, $headers, $socket)
# Sends "CONNECT host:port HTTP/1.1" (plus Host and the given headers) to the
# proxy on a new socket, reads the response head and returns the status line
# (e.g. "HTTP/1.1 200 Connection Established", no CRLF), the response headers
# as an HTTP::Headers object, and the socket (positioned after the head: on a 2xx
# it is the tunnel; otherwise a body may follow). On timeout (10 s) or a closed
# connection before a full head, the status line is undef. Close the socket when
# done: httpd waits (~10 s at shutdown) on a tunnel whose client side stays open.
sub connect_tunnel {
    my ($hostport, %h) = @_;
    require HTTP::Headers;
    my ($host, $port) = split /:(?=\d+$)/, proxy_hostport();
    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                     Proto => 'tcp', Timeout => 10)
        or croak "connect_tunnel: cannot connect to the proxy: $!";
    $sock->autoflush(1);
    my $req = "CONNECT $hostport HTTP/1.1\r\nHost: $hostport\r\n";
    while (my ($k, $v) = each %h) {
        $req .= "$k: $_\r\n" for ref $v eq 'ARRAY' ? @$v : ($v);
    }
    $req .= "\r\n";
    print {$sock} $req;

    # Read byte by byte up to the blank line so no tunnel data is consumed.
    my $head = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + 10;
    while ($head !~ /\r?\n\r?\n\z/) {
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $sock, my $c, 1;
        last unless $n;
        $head .= $c;
    }
    return (undef, HTTP::Headers->new, $sock) unless $head =~ /\r?\n\r?\n\z/;
    my ($status, @lines) = split /\r?\n/, $head;
    my $hdr = HTTP::Headers->new;
    for (@lines) {
        $hdr->push_header($1 => $2) if /^([^:\s]+):\s*(.*?)\s*$/;
    }
    return ($status, $hdr, $sock);
}

# blackhole_listener() -> ($port, $socket): a loopback TCP listener that never
# accepts: connects succeed (the kernel completes them) and nothing is ever
# answered. Keep $socket referenced while it is needed; close it to stop.
sub blackhole_listener {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 128, ReuseAddr => 1)
        or croak "blackhole_listener: $!";
    return ($s->sockport, $s);
}

# error_log_mark() -> offset: the current size of t/logs/error_log.
# error_log_since($offset) -> the text appended since (httpd writes it from
# several processes; give it a moment after the request, or poll).
sub _error_log { return _vars()->{t_logs} . '/error_log' }

sub error_log_mark {
    return -s _error_log() || 0;
}

sub error_log_since {
    my ($off) = @_;
    open my $fh, '<', _error_log() or return '';
    seek $fh, $off // 0, 0;
    local $/;
    return scalar(<$fh>) // '';
}

# ---------------------------------------------------------------------------
# What httpd's children can read

# unreachable_for_children(@paths) -> one "PATH: why" line per path that the
# suite's httpd children could not read: every parent folder needs search
# permission for their user, the path itself read permission (and search
# permission when it is a folder). As root the children run as the User/Group
# of the test config (nobody/nogroup), and the check runs as them (setpriv),
# so owner, group and ACLs count as they do for httpd; as any other user the
# children keep that user, and the check runs as it.
sub unreachable_for_children {
    my (@paths) = @_;
    my @run_as;
    if ($> == 0) {
        my $v = eval { _vars() } || {};
        my $user  = $v->{user}  || 'nobody';
        my $group = $v->{group} || getgrgid((getpwnam($user))[3] // 65534) || 'nogroup';
        @run_as = ('setpriv', "--reuid=$user", "--regid=$group", '--clear-groups', '--');
    }
    # Prints the first component that fails, for a diagnostic that names it.
    my $script = <<'EOS';
p=$1; shift
for d do
    [ -x "$d" ] || { echo "no search permission on $d"; exit 1; }
done
if [ -d "$p" ]; then
    [ -r "$p" ] && [ -x "$p" ] || { echo "folder not readable/searchable"; exit 1; }
else
    [ -r "$p" ] || { echo "not readable"; exit 1; }
fi
EOS
    my @bad;
    for my $p (@paths) {
        if (!defined $p || $p !~ m{^/}) {
            push @bad, ($p // '(undef)') . ': not an absolute path';
            next;
        }
        if (!-e $p) {
            push @bad, "$p: does not exist";
            next;
        }
        my @parents;
        my $d = '';
        my @parts = grep { length } split m{/}, $p;
        pop @parts;
        for (@parts) { $d .= "/$_"; push @parents, $d }
        my $pid = open(my $fh, '-|') // croak "fork: $!";
        if (!$pid) {
            open STDERR, '>&', \*STDOUT;
            exec @run_as, 'sh', '-c', $script, 'sh', $p, '/', @parents
                or POSIX::_exit(127);
        }
        my $out = do { local $/; <$fh> } // '';
        close $fh;
        chomp $out;
        push @bad, "$p: " . ($out || "check failed (status $?)") if $?;
    }
    return @bad;
}

1;
