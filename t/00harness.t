# The harness itself: origin, slapd fixture, CA files, proxy. No module feature.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use Net::LDAP;
use IO::Select;

plan tests => 34;

my $origin = origin_hostport();

sub tail_of {
    my ($file) = @_;
    open my $fh, '<', $file or return "(no $file)\n";
    my @l = <$fh>;
    splice @l, 0, @l - 15 if @l > 15;
    return join '', @l;
}

# The origin answers directly (no proxy).
{
    require LWP::UserAgent;
    my $ua = LWP::UserAgent->new(timeout => 10);
    $ua->no_proxy;
    my $r = $ua->get("http://$origin/index.html");
    is $r->code, 200, 'origin answers directly';
    like $r->decoded_content, qr/origin-ok/, 'origin serves origin-ok';
    my $s = $ua->get("http://$origin/small.txt");
    is length($s->content), 100, 'small.txt is 100 bytes';
}

# Files the children read at request time are read as nobody (httpd's User
# when the suite runs as root): a checkout under a 0700 folder (root's home)
# turns every request that touches them into a 403 (AH00035). The main
# DocumentRoot is taken from the running config (apache2 -S: later
# DocumentRoot lines win over Apache::Test's default); the other paths from
# the suite's own t/conf/*.conf.in.
{
    my $v = Apache::Test::vars();
    my $cmd = join ' ', map { "'$_'" } $v->{httpd}, '-d', $v->{serverroot},
        '-f', $v->{t_conf_file}, qw(-D APACHE2 -D APACHE2_4 -S);
    my $out = `$cmd 2>&1`;
    my ($docroot) = $out =~ /^Main DocumentRoot: "(.*)"\s*$/m;
    ok defined $docroot && !unreachable_for_children($docroot),
       'main DocumentRoot (apache2 -S) is readable by the children\'s user'
        or diag defined $docroot ? join("\n", unreachable_for_children($docroot))
                                 : "no 'Main DocumentRoot' in the output of $cmd:\n$out";

    my %paths;
    for my $in (glob "$FindBin::Bin/conf/*.conf.in") {
        (my $conf = $in) =~ s/\.in$//;
        open my $fh, '<', $conf or next;
        while (my $line = <$fh>) {
            next if $line =~ /^\s*#/;
            my $p;
            if ($line =~ /^\s*(?:DocumentRoot|AuthUserFile|ProxyAuthLDAPCACertificate)\s+"?([^"\s]+)/i
                || $line =~ /^\s*<Directory\s+"?([^">\s]+)/i
                || $line =~ /^\s*Alias(?:Match)?\s+\S+\s+"?([^"\s]+)/i) {
                $p = $1;
            }
            next unless defined $p;
            $p =~ s/\$\{(\w+)\}/$ENV{$1} \/\/ ''/ge;
            $p =~ s{/[^/]*\$.*}{};      # AliasMatch targets: up to the first $N
            $paths{$p} = 1 if length $p;
        }
    }
    my @bad = unreachable_for_children(sort keys %paths);
    ok keys(%paths) && !@bad,
       'paths in t/conf/*.conf (documents, password and CA files) readable by the children\'s user'
        or diag join "\n", @bad ? @bad : 'no paths found';
}

# The proxy helpers, against a forward proxy of our own (a second httpd without
# authentication), so this test does not depend on t/conf/extra.conf.in.
{
    my ($oport) = $origin =~ /:(\d+)$/;
    my $h = httpd_start(conf => <<"EOC");
ProxyRequests On
AllowCONNECT $oport
<Proxy "*">
    Require ip 127.0.0.1
</Proxy>
EOC
    local $PALTest::PROXY_HOSTPORT = "127.0.0.1:$h->{port}";
    my $r = proxy_request(GET => "http://$origin/");
    is $r->code, 200, 'httpd_start + proxy_request: GET through a forward proxy';
    like $r->content, qr/origin-ok/, 'proxied body';

    my ($status, $hdr, $sock) = connect_tunnel($origin);
    like $status // '', qr{^HTTP/1\.[01] 200}, 'connect_tunnel: CONNECT to the origin';
    print {$sock} "GET /index.html HTTP/1.0\r\nHost: $origin\r\n\r\n";
    my $body = do { local $/; <$sock> } // '';
    like $body, qr/origin-ok/, 'request through the tunnel';
    close $sock;    # an open client side keeps httpd's shutdown waiting ~10 s
    my $exit = httpd_stop($h);
    is $exit, 0, 'httpd_stop: httpd exits 0 (SIGTERM)'
        or diag "httpd: $h->{status_text}; its error_log ends:\n" . tail_of($h->{error_log});
    ok !PALTest::wait_for_port($h->{port}, 0), 'httpd_stop: stopped';
}

# The suite's own httpd answers as a proxy (whatever extra.conf.in asks of it).
like proxy_request(GET => "http://$origin/")->code, qr/^(?:200|403|407)$/,
    'main server answers proxy requests';

# slapd fixture
my $port = $ENV{PAL_LDAP_PORT};
ok $port && $ENV{PAL_LDAPS_PORT} && $ENV{PAL_LDAP_DEAD_PORT}, 'PAL_LDAP*_PORT set';
my $c0 = monitor_counts($port);
ok defined $c0->{bind} && $c0->{bind} =~ /^\d+$/ && $c0->{search} =~ /^\d+$/,
   'monitor_counts returns numbers';
{
    my $ldap = Net::LDAP->new('127.0.0.1', port => $port, timeout => 5)
        or die "connect: $@";
    my $b = $ldap->bind('cn=proxy-svc,dc=example,dc=test', password => 'svc-secret');
    is $b->code, 0, 'service account binds';
    my $m = $ldap->search(base => 'dc=example,dc=test', filter => '(uid=alice)',
                          attrs => ['uid']);
    is $m->count, 1, 'search for uid=alice finds one entry';
    $ldap->unbind;
}
my $c1 = monitor_counts($port);
is $c1->{bind} - $c0->{bind}, 1, 'monitor: exactly one more Bind';
is $c1->{search} - $c0->{search}, 1, 'monitor: exactly one more Search (reads not counted)';
is $c1->{connections_total} - $c0->{connections_total}, 1, 'monitor: exactly one more connection';

# CA files: outside the checkout and world-readable
ok -f $ENV{PAL_CA_FILE} && (stat _)[2] & 04, 'PAL_CA_FILE exists, world-readable';
ok -f $ENV{PAL_WRONG_CA_FILE}, 'PAL_WRONG_CA_FILE exists';

# TLS: the fixture's certificate chains to PAL_CA_FILE, not to PAL_WRONG_CA_FILE.
{
    my $ok = Net::LDAP->new("ldaps://127.0.0.1:$ENV{PAL_LDAPS_PORT}", verify => 'require',
                            cafile => $ENV{PAL_CA_FILE}, timeout => 5);
    ok $ok, 'ldaps verifies against PAL_CA_FILE' or diag $@;
    my $bad = Net::LDAP->new("ldaps://127.0.0.1:$ENV{PAL_LDAPS_PORT}", verify => 'require',
                             cafile => $ENV{PAL_WRONG_CA_FILE}, timeout => 5);
    ok !$bad, 'ldaps fails against PAL_WRONG_CA_FILE';
}

# A test's own slapd: fresh counters, stop, restart on the same ports with its data.
{
    my $h = slapd_start();
    my $c = monitor_counts($h->{ldap_port});
    is_deeply [@$c{qw(bind search connections_total connections_current)}], [0, 0, 0, 0],
        'own slapd: counters start at 0 (harness reads and probe left out)';
    my $ldap = Net::LDAP->new('127.0.0.1', port => $h->{ldap_port}, timeout => 5);
    is $ldap->bind('uid=alice,ou=people,dc=example,dc=test', password => 'alice-secret')->code,
        0, 'alice binds';
    is monitor_counts($h->{ldap_port})->{connections_current}, 1, 'one connection open';
    $ldap->disconnect;
    my $port = $h->{ldap_port};
    slapd_stop($h);
    ok !PALTest::wait_for_port($port, 0.1), 'stopped: nothing listens';
    slapd_restart($h);
    is $h->{ldap_port}, $port, 'restarted on the same port';
    is monitor_counts($port)->{bind}, 0, 'restart: counters start again at 0';
}

# The blackhole accepts and never answers; basic() encodes UTF-8.
{
    my ($bport, $listener) = blackhole_listener();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $bport, Timeout => 2);
    print {$s} "hello\n" if $s;
    ok $s && !IO::Select->new($s)->can_read(0.3), 'blackhole: connects, never answers';
    is basic('jürgen', 'pässwörd'), 'Basic asO8cmdlbjpww6Rzc3fDtnJk', 'basic(): UTF-8 bytes';
}

# Fixture ports and servers of the run
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ENV{PAL_LDAP_HUNG_PORT},
                                  Timeout => 2);
    ok $s && !IO::Select->new($s)->can_read(0.2), 'PAL_LDAP_HUNG_PORT accepts, never answers';
    ok !PALTest::wait_for_port($ENV{PAL_LDAP_DEAD_PORT}, 0), 'PAL_LDAP_DEAD_PORT refuses';
  SKIP: {
        skip 'no redis-server', 1 unless $ENV{PAL_REDIS_PORT};
        my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ENV{PAL_REDIS_PORT},
                                      Timeout => 2);
        print {$r} "PING\r\n";
        is scalar(<$r>), "+PONG\r\n", 'PAL_REDIS_PORT answers PING';
    }
}
