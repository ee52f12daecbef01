package PALSamba;

# A real Active Directory for the test suite: a Samba AD DC that the suite
# provisions and starts itself, in a network namespace of its own.
#
#   use PALSamba;
#   my ($dc, $why) = PALSamba::start();     # $why: reason to skip (no netns, ...)
#   plan skip_all => $why unless $dc;
#   ... ldaps://$dc->{ip}/ ... $dc->dn('alice') ... $dc->pw('alice') ...
#   PALSamba::stop($dc);                    # also done at exit and on signals
#
# What start() does:
# - takes a free slot (a lock file in /tmp) among 64: slot N uses the /30
#   10.231.7.(4N)/30 of the private 10.231.7.0/24, host side .4N+1, DC .4N+2;
#   only these two addresses (and the namespace's loopback) are ever talked to;
# - restores a provisioned domain from a tarball in the cache folder
#   (PAL_SAMBA_CACHE, default /var/tmp/pal-samba-cache-SAMBAVERSION-rRECIPE;
#   PAL_SAMBA_CACHE=off provisions afresh and keeps nothing); on a miss it
#   provisions one (samba-tool, offline, ~15 s) and stores it there;
# - writes its own smb.conf (every path under the run's temp folder; only the
#   ldap service: 389, 636 and the Global Catalog 3268, 3269) and a server
#   certificate with an IP SAN for the DC's address, signed by the suite's CA
#   (the ca.key next to PAL_CA_FILE, as PALTest::make_pki lays them out) or,
#   outside t/TEST, by a CA of its own ($dc->{ca});
# - creates the network namespace pal-ad-N with a veth pair (host pal-adh-N,
#   namespace side "paldc"), starts `samba -F -M single` in it and waits until
#   a service bind over LDAPS works;
# - stops samba, deletes the namespace and the veth pair, removes the temp
#   folder at stop(), at exit and on SIGINT/SIGTERM/SIGHUP (PAL_SAMBA_KEEP=1
#   keeps the folder, for a look at samba's log). A run that was killed
#   leaves its namespace behind: the next run of that slot removes it.
#
# Looking at the DC from a test: ldapsearch($dc, URL, BINDDN, PW, ARGS...)
# (ldapsearch(1) with the right CA), ldb_get($dc, LOGIN, ATTRS...) (reads its
# database directly: badPwdCount, lockoutTime, ...), samba_tool($dc, ARGS...),
# auth_mark($dc) + auth_events($dc, MARK) / binds_for($dc, MARK, LOGIN): the
# LDAP binds samba logged since the mark (log level auth_audit:3).
#
# The domain (realm AD.EXAMPLE.TEST, NetBIOS domain EXAMPLE, base
# DC=ad,DC=example,DC=test): see %USERS and %GROUPS below. Account states:
# dis disabled (533), mustchg pwdLastSet=0 (773), expacct accountExpires in
# 2020 (701), pwexp password last set in 2020 under a PSO with a 2-day maximum
# age (532), victim under a PSO with lockout threshold 5 (775 after 5 bad
# passwords). The domain's own policy: passwords never expire (the cached
# tarball may be old), no lockout.
#
# Strings here are UTF-8 bytes (no `use utf8`).

use strict;
use warnings;

use Carp qw(croak);
use PALTest ();
use Fcntl qw(:flock O_RDWR O_CREAT);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# Bump when the provisioning below changes: cached tarballs of other recipes
# are not used.
our $RECIPE = 2;

use constant REALM    => 'AD.EXAMPLE.TEST';
use constant DNS      => 'ad.example.test';
use constant DOMAIN   => 'EXAMPLE';
use constant BASE     => 'DC=ad,DC=example,DC=test';
use constant ADMIN_PW => 'Admin-Pa55-PAL!';
use constant SUBNET   => '10.231.7';     # the /24 of every slot's /30
use constant SLOTS    => 64;

# login (sAMAccountName) => CN, OU (under BASE), password, extra samba-tool
# arguments. CNs with a comma, spaces and non-ASCII letters are deliberate.
our %USERS = (
    'svc-proxy' => { cn => 'svc-proxy',     ou => 'OU=Service',     pw => 'Svc-Proxy-Pa55!' },
    alice       => { cn => 'alice',         ou => 'OU=People',      pw => 'Alice-Pa55!' },
    bob         => { cn => 'bob',           ou => 'OU=People',      pw => 'Bob-Pa55!' },
    jdoe        => { cn => 'Doe, John',     ou => 'OU=People',      pw => 'Jdoe-Pa55!' },
    "j\xc3\xbcrgen" => { cn => "J\xc3\xbcrgen M\xc3\xbcller", ou => 'OU=People',
                     pw => "P\xc3\xa4ssw\xc3\xb6rd-12" },
    carol       => { cn => 'carol',         ou => 'OU=Contractors', pw => 'Carol-Pa55!' },
    dis         => { cn => 'dis',           ou => 'OU=People',      pw => 'Dis-Pa55!' },
    mustchg     => { cn => 'mustchg',       ou => 'OU=People',      pw => 'Mustchg-Pa55!' },
    expacct     => { cn => 'expacct',       ou => 'OU=People',      pw => 'Expacct-Pa55!' },
    pwexp       => { cn => 'pwexp',         ou => 'OU=People',      pw => 'Pwexp-Pa55!' },
    victim      => { cn => 'victim',        ou => 'OU=People',      pw => 'Victim-Pa55!' },
    # Service accounts of Kerberos services (SPNs below): the proxy's own,
    # and another web service whose tickets the proxy must refuse.
    proxy       => { cn => 'proxy',         ou => 'OU=Service',     pw => 'Proxy-Http-Pa55!' },
    other       => { cn => 'other',         ou => 'OU=Service',     pw => 'Other-Http-Pa55!' },
);
# account => SPN (host part under DNS)
our %SPNS = (proxy => 'HTTP/proxy', other => 'HTTP/other');
# group => members (logins or groups). G-Outer > G-Inner > alice, jürgen.
our %GROUPS = (
    'G-Inner' => ['alice', "j\xc3\xbcrgen"],
    'G-Outer' => ['G-Inner', 'bob', 'jdoe'],
);
use constant GROUP_OU => 'OU=Groups';

my $owner_pid = $$;
my @live;       # handles to clean up at exit

# ---------------------------------------------------------------------------

# The file helpers are PALTest's.
*_slurp = \&PALTest::_slurp;
*_spew  = \&PALTest::_spew;

sub _tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text // '';
    splice @l, 0, @l - $n if @l > $n;
    return join '', map { "    $_\n" } @l;
}

sub _which {
    my ($prog) = @_;
    for my $dir (split(/:/, $ENV{PATH} // ''), qw(/usr/sbin /sbin /usr/bin /bin)) {
        return "$dir/$prog" if -x "$dir/$prog";
    }
    return undef;
}

# The environment of every Samba tool: /usr/bin/python3's own modules (no
# pyenv/virtualenv variables), UTF-8 arguments.
sub _child_env {
    delete @ENV{qw(PYTHONHOME PYTHONPATH VIRTUAL_ENV)};
    $ENV{LC_ALL} = 'C.UTF-8';
    $ENV{PATH} = "/usr/sbin:/usr/bin:/sbin:/bin:" . ($ENV{PATH} // '');
}

# _run(\%opt, @cmd) -> ($status, $output): stdin /dev/null, stdout+stderr captured.
sub _run {
    my ($opt, @cmd) = @_;
    my ($fh, $tmp) = File::Temp::tempfile('pal-samba-out-XXXXXX', TMPDIR => 1, UNLINK => 1);
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
        _child_env();
        %ENV = (%ENV, %{ $opt->{env} || {} });
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $tmp or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $st = $?;
    my $out = _slurp($tmp);
    close $fh;
    unlink $tmp;
    return ($st, $out);
}

# _must(@cmd) -> output, or croak with it.
sub _must {
    my (@cmd) = @_;
    my ($st, $out) = _run({}, @cmd);
    croak "PALSamba: '@cmd' failed (status $st):\n" . _tail($out, 30) if $st;
    return $out;
}

# ---------------------------------------------------------------------------
# Why the AD tests cannot run here (undef: they can).

sub missing_reason {
    return 'not root: a network namespace for the Samba AD DC needs root'
        if $> != 0;
    for my $p (qw(ip samba samba-tool ldbsearch ldbmodify ldbrename ldapsearch openssl tar kinit ktutil)) {
        return "$p not found (sh t/deps.sh test installs the Samba AD DC packages)"
            unless _which($p);
    }
    return '/usr/bin/python3 not found (samba-tool needs it)' unless -x '/usr/bin/python3';
    return undef;
}

sub samba_version {
    my ($st, $out) = _run({}, _which('samba'), '-V');
    return 'unknown' if $st;
    my ($v) = $out =~ /Version\s+(\S+)/;
    $v //= 'unknown';
    $v =~ s/[^A-Za-z0-9.+-]/_/g;
    return $v;
}

# ---------------------------------------------------------------------------
# Provisioning (offline) and the cache

sub _dn {
    my ($login) = @_;
    my $u = $USERS{$login} or croak "PALSamba: no user '$login'";
    (my $cn = $u->{cn}) =~ s/([,+"\\<>;=#])/\\$1/g;
    return "CN=$cn,$u->{ou}," . BASE;
}

sub _group_dn { return "CN=$_[0]," . GROUP_OU . ',' . BASE }

# provision($dir): a new domain in $dir (which must not exist).
sub provision {
    my ($dir) = @_;
    my $t0 = time;
    _must('samba-tool', 'domain', 'provision', "--targetdir=$dir",
          '--realm=' . REALM, '--domain=' . DOMAIN, '--server-role=dc',
          '--dns-backend=NONE', '--use-rfc2307', '--host-name=dc1',
          '--host-ip=' . SUBNET . '.2', '--adminpass=' . ADMIN_PW,
          '--option=interfaces=lo', '--option=bind interfaces only=yes');
    my @H = ('-H', "$dir/private/sam.ldb", '-s', "$dir/etc/smb.conf");
    my $ldif = "$dir/pal-states.ldif";
    my $tool = sub { _must('samba-tool', @_, @H) };

    # Passwords never expire (the tarball may be reused for months), no lockout
    # but for the PSO below.
    $tool->(qw(domain passwordsettings set --max-pwd-age=0 --min-pwd-age=0
               --account-lockout-threshold=0));
    my %ous = map { $_->{ou} => 1 } values %USERS;
    $ous{+GROUP_OU} = 1;
    $tool->('ou', 'create', "$_," . BASE) for sort keys %ous;

    my @renames;
    for my $login (sort keys %USERS) {
        my $u = $USERS{$login};
        my @extra = ('--use-username-as-cn');
        push @extra, '--must-change-at-next-login' if $login eq 'mustchg';
        $tool->('user', 'create', $login, $u->{pw}, "--userou=$u->{ou}", @extra);
        push @renames, ["CN=$login,$u->{ou}," . BASE, _dn($login)]
            if $u->{cn} ne $login;
    }
    for my $r (@renames) {
        _must('ldbrename', '-H', "$dir/private/sam.ldb", @$r);
    }
    for my $g (sort keys %GROUPS) {
        $tool->('group', 'add', $g, '--groupou=' . GROUP_OU);
    }
    for my $g (sort keys %GROUPS) {
        $tool->('group', 'addmembers', $g, join(',', @{ $GROUPS{$g} }));
    }
    $tool->(qw(user disable dis));

    # Kerberos: an SPN per service account, AES keys only (the keytab is
    # made from the password with ktutil; see keytab()).
    for my $acct (sort keys %SPNS) {
        $tool->('spn', 'add', "$SPNS{$acct}." . DNS, $acct);
        _spew($ldif, "dn: " . _dn($acct) . "\nchangetype: modify\n"
                   . "replace: msDS-SupportedEncryptionTypes\n"
                   . "msDS-SupportedEncryptionTypes: 24\n");
        _must('ldbmodify', '-H', "$dir/private/sam.ldb", $ldif);
    }

    # 775: lockout after 5 bad passwords, for 30 minutes.
    $tool->(qw(domain passwordsettings pso create pso-lockout 10
               --account-lockout-threshold=5 --account-lockout-duration=30
               --reset-account-lockout-after=30));
    $tool->(qw(domain passwordsettings pso apply pso-lockout victim));
    # 532: a maximum password age of 2 days (Samba ignores anything under a
    # day) and a password last set in 2020.
    $tool->(qw(domain passwordsettings pso create pso-expired 20
               --max-pwd-age=2 --min-pwd-age=0));
    $tool->(qw(domain passwordsettings pso apply pso-expired pwexp));

    # 701: accountExpires 2020-01-01. 532: pwdLastSet 2020-01-01 -- Samba
    # refuses any pwdLastSet but 0 and -1 through its modules, so it is
    # written into the domain partition's file directly (a throwaway DC).
    _spew($ldif, "dn: " . _dn('expacct') . "\nchangetype: modify\n"
               . "replace: accountExpires\naccountExpires: 132223104000000000\n");
    _must('ldbmodify', '-H', "$dir/private/sam.ldb", $ldif);
    my ($part) = glob("$dir/private/sam.ldb.d/DC=AD,DC=EXAMPLE,DC=TEST.ldb");
    croak "PALSamba: domain partition file not found in $dir" unless $part && -e $part;
    _spew($ldif, "dn: " . _dn('pwexp') . "\nchangetype: modify\n"
               . "replace: pwdLastSet\npwdLastSet: 132223104000000000\n");
    _must('ldbmodify', '-H', "tdb://$part", $ldif);
    unlink $ldif;

    # Check the recipe took.
    my $e = ldb_get_dir($dir, 'pwexp', 'msDS-User-Account-Control-Computed');
    croak "PALSamba: provisioning: pwexp's password is not expired"
        unless ($e->{'msDS-User-Account-Control-Computed'} // 0) & 0x800000;
    $e = ldb_get_dir($dir, 'jdoe', 'cn');
    croak "PALSamba: provisioning: jdoe's CN is not 'Doe, John'"
        unless ($e->{cn} // '') eq 'Doe, John';
    return time - $t0;
}

sub cache_dir {
    my $c = $ENV{PAL_SAMBA_CACHE};
    return undef if defined $c && $c eq 'off';
    return $c if defined $c && $c ne '';
    return '/var/tmp/pal-samba-cache-' . samba_version() . "-r$RECIPE";
}

# _domain_into($dir): $dir/dc holds a provisioned domain afterwards; from the
# cache when there is one. Returns ('cache'|'provisioned', seconds). The
# cached tarball is only ever replaced whole (rename), by a provisioning that
# succeeded.
sub _domain_into {
    my ($dir) = @_;
    my $t0 = time;
    my $cache = cache_dir();
    my ($lock, $tar);
    if ($cache) {
        make_path($cache, { mode => 0700 });
        $tar = "$cache/dc.tar.gz";
        # One provisioning at a time: a second run waits and then restores.
        sysopen $lock, "$cache/lock", O_RDWR | O_CREAT, 0600
            or croak "PALSamba: open $cache/lock: $!";
        flock $lock, LOCK_EX or croak "PALSamba: lock $cache/lock: $!";
        if (-s $tar) {
            my ($st, $out) = _run({}, 'tar', '--no-same-owner', '-C', $dir, '-xzf', $tar);
            if (!$st && -e "$dir/dc/private/sam.ldb") {
                close $lock;
                return ('cache', time - $t0);
            }
            warn "PALSamba: cannot restore $tar (provisioning a new domain):\n"
               . _tail($out, 5);
            remove_tree("$dir/dc");
        }
    }
    provision("$dir/dc");
    if ($cache) {
        my $part = "$tar.tmp.$$";
        my ($st, $out) = _run({}, 'tar', '-C', $dir, '-czf', $part, 'dc');
        if ($st) {
            unlink $part;
            warn "PALSamba: could not store the cache $tar:\n" . _tail($out, 5);
        }
        else {
            rename $part, $tar or warn "PALSamba: rename $part: $!\n";
        }
        close $lock;
    }
    return ('provisioned', time - $t0);
}

# ---------------------------------------------------------------------------
# The network namespace

sub _ns_names {
    my ($slot) = @_;
    return ("pal-ad-$slot", "pal-adh-$slot", "pal-adn-$slot");
}

# Leftovers of a run of this slot that died without cleaning up (its lock is
# free, so nothing of it runs any more but what is inside its namespace).
sub _ns_clean {
    my ($slot) = @_;
    my ($ns, $host, $peer) = _ns_names($slot);
    my ($st, $list) = _run({}, 'ip', 'netns', 'list');
    if (!$st && $list =~ /^\Q$ns\E(?:\s|$)/m) {
        my (undef, $pids) = _run({}, 'ip', 'netns', 'pids', $ns);
        my @p = grep { /^\d+$/ } split /\s+/, $pids;
        kill 'KILL', @p if @p;
        _run({}, 'ip', 'netns', 'del', $ns);
    }
    for my $l ($host, $peer) {
        my ($s) = _run({}, 'ip', 'link', 'show', $l);
        _run({}, 'ip', 'link', 'del', $l) if !$s;
    }
}

# Takes a free slot: returns ($slot, $lock_fh) or croaks.
sub _take_slot {
    for my $slot (0 .. SLOTS - 1) {
        my $f = "/tmp/pal-samba-slot-$slot.lock";
        sysopen my $fh, $f, O_RDWR | O_CREAT, 0600 or next;
        if (flock $fh, LOCK_EX | LOCK_NB) {
            return ($slot, $fh);
        }
        close $fh;
    }
    croak "PALSamba: all " . SLOTS . " slots are taken";
}

# Returns undef when the namespace is up, or why not (a skip reason).
sub _ns_up {
    my ($h) = @_;
    my ($ns, $host, $peer) = @{$h}{qw(ns host_if peer_if)};
    # Nothing else on this machine may use the /24 (it would be a target too).
    my (undef, $addrs) = _run({}, 'ip', '-4', '-o', 'addr', 'show');
    for my $l (split /\n/, $addrs) {
        my ($ifname, $a) = $l =~ /^\d+:\s+(\S+)\s+inet\s+(\S+)/ or next;
        next if $ifname =~ /^pal-adh-\d+(?:\@|$)/;
        return "the address $a of $ifname is in " . SUBNET . ".0/24, "
             . "the private subnet of the AD tests"
            if index($a, SUBNET . '.') == 0;
    }
    my ($st, $out) = _run({}, 'ip', 'netns', 'add', $ns);
    if ($st) {
        $out =~ s/\s+$//;
        $out =~ s/\n/ /g;
        return "cannot create a network namespace (ip netns add: $out)";
    }
    $h->{ns_made} = 1;
    my @steps = (
        [qw(ip link add), $host, qw(type veth peer name), $peer],
        [qw(ip link set), $peer, 'netns', $ns],
        ['ip', '-n', $ns, qw(link set), $peer, qw(name paldc)],
        [qw(ip addr add), "$h->{host_ip}/30", 'dev', $host],
        [qw(ip link set), $host, 'up'],
        ['ip', '-n', $ns, qw(addr add), "$h->{ip}/30", qw(dev paldc)],
        ['ip', '-n', $ns, qw(link set paldc up)],
        ['ip', '-n', $ns, qw(link set lo up)],
    );
    for my $cmd (@steps) {
        my ($s, $o) = _run({}, @$cmd);
        if ($s) {
            $o =~ s/\s+$//;
            $o =~ s/\n/ /g;
            return "cannot set up the namespace's network ('@$cmd': $o)";
        }
    }
    return undef;
}

# ---------------------------------------------------------------------------
# TLS

sub _make_cert {
    my ($h) = @_;
    my $tls = "$h->{dir}/tls";
    make_path($tls, { mode => 0755 });
    chmod 0755, $tls;
    my ($ca, $ca_key) = ($ENV{PAL_CA_FILE}, undef);
    $ca_key = dirname($ca) . '/ca.key' if $ca;
    if (!$ca || !-r $ca || !-r $ca_key) {
        my $pki = PALTest::make_pki("$tls/pki");
        ($ca, $ca_key) = @{$pki}{qw(ca ca_key)};
    }
    my $cnf = "$tls/openssl.cnf";
    _spew($cnf, <<"EOC");
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:$h->{ip},DNS:dc1.@{[DNS]}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOC
    _must(qw(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes),
          -keyout => "$tls/dc.key", -out => "$tls/dc.csr", -config => $cnf,
          -subj => '/O=mod_proxyauth_ldap tests/CN=dc1.' . DNS);
    _must(qw(openssl x509 -req), -in => "$tls/dc.csr", -CA => $ca, -CAkey => $ca_key,
          -set_serial => sprintf('0x%x%06x', time, $$), -days => 7,
          -extfile => $cnf, -extensions => 'v3_server', -out => "$tls/dc.crt");
    chmod 0600, "$tls/dc.key";   # samba insists
    chmod 0644, "$tls/dc.crt";
    @{$h}{qw(ca cert key)} = ($ca, "$tls/dc.crt", "$tls/dc.key");
}

sub _smb_conf {
    my ($h) = @_;
    my $d = "$h->{dir}/dc";
    my ($realm, $dom) = (REALM, DOMAIN);
    make_path("$d/run", "$d/log", "$d/cache", "$d/state");
    _spew("$d/etc/smb.conf", <<"EOC");
# Written by t/lib/PALSamba.pm for one test run.
[global]
	netbios name = DC1
	realm = $realm
	workgroup = $dom
	server role = active directory domain controller
	server services = ldap kdc
	interfaces = lo paldc
	bind interfaces only = yes
	private dir = $d/private
	lock directory = $d
	state directory = $d/state
	cache directory = $d/cache
	binddns dir = $d/bind-dns
	pid directory = $d/run
	ncalrpc dir = $d/run/ncalrpc
	winbindd socket directory = $d/run/winbindd
	ntp signd socket directory = $d/run/ntp_signd
	log file = $d/log/samba.log
	logging = file
	max log size = 0
	# auth_audit:3 logs every bind with its result (auth_events()).
	log level = 1 auth_audit:3
	tls enabled = yes
	tls keyfile = $h->{key}
	tls certfile = $h->{cert}
	tls cafile = $h->{ca}
	idmap_ldb:use rfc2307 = yes
EOC
    $h->{log} = "$d/log/samba.log";
    $h->{sam} = "$d/private/sam.ldb";
    $h->{smb_conf} = "$d/etc/smb.conf";
}

# ---------------------------------------------------------------------------

# ldapsearch against the DC: ($status, $output).
sub ldapsearch {
    my ($h, $url, $binddn, $pw, @args) = @_;
    my $pwfile = "$h->{dir}/ldap.pw";
    _spew($pwfile, $pw, 0600);
    my @r = _run({ env => { LDAPTLS_CACERT => $h->{ca}, LDAPTLS_REQCERT => 'demand' } },
                 'ldapsearch', '-LLL', '-o', 'nettimeout=3', '-H', $url, '-x',
                 '-D', $binddn, '-y', $pwfile, @args);
    unlink $pwfile;
    return @r;
}

# start(%opts) -> ($handle) or (undef, $skip_reason). Croaks when something
# that should work fails. Options: timeout (seconds for the DC to answer, 60).
sub start {
    my (%o) = @_;
    my $why = missing_reason();
    return (undef, $why) if $why;

    my ($slot, $slot_lock) = _take_slot();
    _ns_clean($slot);
    my ($ns, $host, $peer) = _ns_names($slot);
    my $base = $ENV{PAL_TMP} && -d $ENV{PAL_TMP} ? $ENV{PAL_TMP} : '/tmp';
    my $dir = File::Temp::tempdir('samba-XXXXXX', DIR => $base, CLEANUP => 0);
    chmod 0755, $dir;
    my $h = bless {
        slot => $slot, slot_lock => $slot_lock, dir => $dir, ns => $ns,
        host_if => $host, peer_if => $peer,
        host_ip => SUBNET . '.' . (4 * $slot + 1),
        ip      => SUBNET . '.' . (4 * $slot + 2),
        base => BASE, realm => REALM, dns => DNS, domain => DOMAIN,
        owner => $$,
    }, __PACKAGE__;
    push @live, $h;
    _install_signals();

    # The namespace first: when it cannot be made, skip before any work.
    $why = _ns_up($h);
    if ($why) { stop($h); return (undef, $why) }

    my $ok = eval {
        ($h->{domain_from}, $h->{domain_seconds}) = _domain_into($dir);
        _make_cert($h);
        _smb_conf($h);
        1;
    };
    if (!$ok) { my $e = $@; stop($h); die $e }

    my $t0 = time;
    my $out = "$dir/samba.out";
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
        _child_env();
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        # pdeathsig: samba gets SIGTERM if this process dies, however it dies
        # (ip netns exec execs samba: same process).
        exec 'setpriv', '--pdeathsig', 'TERM', '--', 'ip', 'netns', 'exec', $ns,
             'samba', '-F', '-M', 'single', '-s', $h->{smb_conf}
            or POSIX::_exit(127);
    }
    $h->{pid} = $pid;

    my $deadline = time + ($o{timeout} // 60);
    my $svc = _dn('svc-proxy');
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $h->{pid};
            my $msg = "PALSamba: samba exited (status $?) at start:\n"
                    . _tail(_slurp($out) . _slurp($h->{log}), 25);
            stop($h);
            croak $msg;
        }
        my ($st) = ldapsearch($h, "ldaps://$h->{ip}/", $svc, $USERS{'svc-proxy'}{pw},
                              '-b', '', '-s', 'base', 'dnsHostName');
        last if !$st;
        if (time > $deadline) {
            my $msg = "PALSamba: the DC does not answer a service bind over LDAPS "
                    . "after " . ($o{timeout} // 60) . " s:\n"
                    . _tail(_slurp($out) . _slurp($h->{log}), 25);
            stop($h);
            croak $msg;
        }
        sleep 0.25;
    }
    $h->{start_seconds} = time - $t0;
    return ($h);
}

# stop($handle): samba, the namespace (with the veth pair), the temp folder.
sub stop {
    my ($h) = @_;
    return unless $h && $h->{owner} && $h->{owner} == $$;
    if (my $pid = delete $h->{pid}) {
        kill 'TERM', $pid;
        my $deadline = time + 10;
        while (time < $deadline) {
            my $r = waitpid $pid, WNOHANG;
            last if $r == $pid || $r == -1;
            sleep 0.05;
        }
        if (kill 0, $pid) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
        }
    }
    if (delete $h->{ns_made}) {
        # Anything samba left in its namespace, then the namespace itself
        # (which takes the veth pair with it).
        my (undef, $pids) = _run({}, 'ip', 'netns', 'pids', $h->{ns});
        my @p = grep { /^\d+$/ } split /\s+/, $pids;
        kill 'KILL', @p if @p;
        _run({}, 'ip', 'netns', 'del', $h->{ns});
    }
    for my $l ($h->{host_if}, $h->{peer_if}) {
        next unless $l;
        my ($s) = _run({}, 'ip', 'link', 'show', $l);
        _run({}, 'ip', 'link', 'del', $l) if !$s;
    }
    remove_tree($h->{dir}) if $h->{dir} && -d $h->{dir} && !$ENV{PAL_SAMBA_KEEP};
    close $h->{slot_lock} if $h->{slot_lock};
    delete $h->{slot_lock};
    $h->{owner} = 0;
    @live = grep { $_ != $h } @live;
    return 1;
}

my $signals_installed;
sub _install_signals {
    return if $signals_installed++;
    for my $sig (qw(INT TERM HUP)) {
        $SIG{$sig} = sub {
            return unless $$ == $owner_pid;
            stop($_) for @live;
            # exit (not the signal again): the END blocks of the test and of
            # PALTest (its httpd) still run.
            CORE::exit(1);
        };
    }
}

END {
    if ($$ == $owner_pid) {
        local $?;
        stop($_) for @live;
    }
}

# ---------------------------------------------------------------------------
# Kerberos: the DC's KDC, a keytab for the proxy, tickets for clients

# krb5_conf($h) -> path of a krb5.conf for this DC (KRB5_CONFIG): no DNS.
sub krb5_conf {
    my ($h) = @_;
    my $f = "$h->{dir}/krb5.conf";
    return $f if -e $f;
    my ($realm, $dns) = (REALM, DNS);
    _spew($f, <<"EOC");
[libdefaults]
	default_realm = $realm
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
	udp_preference_limit = 1
	default_ccache_name = FILE:$h->{dir}/krb5cc_default
[realms]
	$realm = {
		kdc = $h->{ip}
	}
[domain_realm]
	.$dns = $realm
	$dns = $realm
EOC
    chmod 0644, $f;
    return $f;
}

sub spn_host { my ($h, $acct) = @_; (my $x = $SPNS{$acct}) =~ s{^HTTP/}{}; return "$x." . DNS }
sub spn      { my ($h, $acct) = @_; return "$SPNS{$acct}." . DNS . '@' . REALM }

# keytab($h, $acct, $file, %o) -> $file: the AES keys of the account's SPN
# made from its password and salt (REALM + sAMAccountName), with the kvno
# the DC reports (o{kvno} overrides it: a stale keytab).
sub keytab {
    my ($h, $acct, $file, %o) = @_;
    my $kvno = $o{kvno} // ldb_get($h, $acct, 'msDS-KeyVersionNumber')->{'msDS-KeyVersionNumber'};
    croak "PALSamba: no kvno for $acct" unless $kvno;
    my $princ = spn($h, $acct);
    my $pw = $o{password} // $USERS{$acct}{pw};
    my $salt = REALM . $acct;
    my $in = '';
    for my $e (qw(aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96)) {
        $in .= "addent -password -p $princ -k $kvno -e $e -s $salt\n$pw\n";
    }
    $in .= "wkt $file\nquit\n";
    unlink $file;
    my ($fh, $tmp) = File::Temp::tempfile('pal-kt-XXXXXX', TMPDIR => 1, UNLINK => 1);
    print $fh $in;
    close $fh;
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
        open STDIN, '<', $tmp or POSIX::_exit(126);
        open STDOUT, '>', '/dev/null';
        exec 'ktutil' or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    unlink $tmp;
    croak "PALSamba: ktutil could not write $file (status $?)" if $? || !-s $file;
    return $file;
}

# kinit($h, $login, $ccache, %o) -> ($ok, $output): a TGT for the user in
# the credential cache file $ccache (o{password} overrides the user's).
sub kinit {
    my ($h, $login, $ccache, %o) = @_;
    my $pw = $o{password} // $USERS{$login}{pw};
    my ($fh, $tmp) = File::Temp::tempfile('pal-kinit-XXXXXX', TMPDIR => 1, UNLINK => 1);
    print $fh "$pw\n";
    close $fh;
    my $pid = fork // croak "fork: $!";
    my $out = "$tmp.out";
    if (!$pid) {
        $ENV{KRB5_CONFIG} = krb5_conf($h);
        $ENV{KRB5CCNAME} = "FILE:$ccache";
        open STDIN, '<', $tmp or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec 'kinit', $login . '@' . REALM or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $st = $?;
    my $text = _slurp($out);
    unlink $tmp, $out;
    return (!$st, $text);
}

# ---------------------------------------------------------------------------
# Looking at the DC

sub dn   { my ($h, $login) = @_; return _dn($login) }
sub pw   { my ($h, $login) = @_; return $USERS{$login}{pw} }
sub group_dn { my ($h, $g) = @_; return _group_dn($g) }
sub svc_dn { return _dn('svc-proxy') }
sub svc_pw { return $USERS{'svc-proxy'}{pw} }

# ldb_get_dir($dir, $login, @attrs) -> { attr => value } read from the
# domain's database directly (the DC may run meanwhile).
sub ldb_get_dir {
    my ($dir, $login, @attrs) = @_;
    my $out = _must('ldbsearch', '-H', "$dir/private/sam.ldb",
                    "(sAMAccountName=$login)", @attrs);
    $out =~ s/\n //g;     # LDIF continuation lines
    my %e;
    for my $l (split /\n/, $out) {
        $e{$1} = $2 if $l =~ /^([\w-]+): (.*)$/;
    }
    return \%e;
}

sub ldb_get {
    my ($h, $login, @attrs) = @_;
    return ldb_get_dir("$h->{dir}/dc", $login, @attrs);
}

# samba_tool($h, @args) -> output (croaks on failure), on the local database.
sub samba_tool {
    my ($h, @args) = @_;
    return _must('samba-tool', @args, '-H', $h->{sam}, '-s', $h->{smb_conf});
}

# auth_mark($h) -> offset in samba's log; auth_events($h, $offset) -> list of
# { user => DN or name the client bound with, status => NT_STATUS_..., line }
# for every LDAP simple bind logged since.
sub auth_mark { my ($h) = @_; return -s $h->{log} || 0 }

sub auth_events {
    my ($h, $off) = @_;
    open my $fh, '<', $h->{log} or return ();
    seek $fh, $off // 0, 0;
    my @ev;
    while (my $l = <$fh>) {
        next unless $l =~ /Auth: \[LDAP,simple bind[^\]]*\] user \[[^\]]*\]\\\[(.*?)\] at \[.*?\] with \[[^\]]*\] status \[(\w+)\]/;
        # samba doubles the backslashes of the DN in its log
        (my $user = $1) =~ s/\\\\/\\/g;
        push @ev, { user => $user, status => $2, line => $l };
    }
    return @ev;
}

# binds_for($h, $offset, $login) -> number of binds with that user's DN since.
sub binds_for {
    my ($h, $off, $login) = @_;
    my $dn = lc _dn($login);
    return scalar grep { lc($_->{user}) eq $dn } auth_events($h, $off);
}

1;
