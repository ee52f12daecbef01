# httpd stops cleanly with the module loaded (SPEC "Details": "the parent exits
# 0 on SIGTERM, SIGWINCH (graceful-stop) and after graceful restarts, whatever
# the configuration; a ProxyAuthCache changed at a graceful restart never
# crashes").
#
# Each case is an httpd of its own (PALTest::httpd_start, the suite's MPM and
# modules) proxying for alice through <Proxy "*"> ProxyAuthLDAP On against the
# fixture slapd, with the default shmcb cache or with redis. At least one
# authenticated request goes through before every stop and after every
# graceful restart, so the caches were used. httpd_stop_signal returns the
# exit status of httpd's parent; a crash there (e.g. a cleanup calling into a
# socache module that mod_so has unloaded) shows as 139 and nowhere else.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use File::Spec;
use File::Temp ();
use Time::HiRes qw(sleep time);

my $origin = origin_hostport();
my $URL = "http://$origin/index.html";
my $ALICE = basic('alice', 'alice-secret');

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar(<$fh>) // '';
}

# mod_socache_redis sits next to the MPM module of the base config.
my ($libexec) = slurp("$PALTest::TOP/t/conf/pal_base.conf")
    =~ m{^LoadModule\s+mpm_\w+\s+(\S+)/mod_mpm_\w+\.so\s*$}m;
my $redis_so = $libexec ? "$libexec/mod_socache_redis.so" : '';
my $no_redis = !$ENV{PAL_REDIS_PORT} ? 'no redis-server in this run (PAL_REDIS_PORT)'
             : !-e $redis_so        ? 'mod_socache_redis.so not found'
             :                        '';

my @cases = (
    ['SIGTERM',                              [],             'TERM'],
    ['graceful restart, then SIGTERM',       ['USR1'],       'TERM'],
    ['two graceful restarts, then SIGTERM',  [qw(USR1 USR1)], 'TERM'],
    ['SIGWINCH (graceful-stop)',             [],             'WINCH'],
    ['graceful restart, then SIGWINCH',      ['USR1'],       'WINCH'],
);
my $per_case = 0;
$per_case += 4 + @{ $_->[1] } for @cases;
# start, 200, restart + 200, PAL0014, exit status, clean log
my $per_switch = 6;
plan tests => 2 * $per_case + 2 * $per_switch;

my $tmp = File::Temp::tempdir('stop-XXXXXX',
                              DIR => ($ENV{PAL_TMP} && -d $ENV{PAL_TMP})
                                     ? $ENV{PAL_TMP} : File::Spec->tmpdir,
                              CLEANUP => 1);
chmod 0755, $tmp;
my $secret = "$tmp/cache.secret";
{
    open my $fh, '>', $secret or die "write $secret: $!";
    print {$fh} "05stop-" . join('', map { sprintf '%02x', int rand 256 } 1 .. 32) . "\n";
    close $fh or die "close $secret: $!";
    chmod 0600, $secret;
}

# The cache lines live in a file of their own, rewritten for the cases that
# change ProxyAuthCache at a graceful restart.
my $n = 0;
# shmcb: the default (no ProxyAuthCache line), unless $switch: then both
# sides of the switch name their provider and use the same secret, so only
# the provider changes.
sub cache_conf {
    my ($kind, $switch) = @_;
    my $sec = "ProxyAuthCacheSecret \"file:$secret\"\n";
    return $switch ? "ProxyAuthCache shmcb\n$sec" : '' if $kind eq 'shmcb';
    return "ProxyAuthCache redis:127.0.0.1:$ENV{PAL_REDIS_PORT}\n$sec";
}

sub write_file {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "write $file: $!";
    print {$fh} $text;
    close $fh or die "close $file: $!";
}

sub start_proxy {
    my ($kind, $switch) = @_;
    my $inc = "$tmp/cache-" . ++$n . '.conf';
    write_file($inc, cache_conf($kind, $switch));
    my $redis = $no_redis ? '' : "LoadModule socache_redis_module \"$redis_so\"\n";
    my $h = eval {
        httpd_start(conf => <<"EOC");
$redis
Include "$inc"
<IfModule mpm_prefork_module>
    StartServers 2
    MinSpareServers 1
    MaxSpareServers 2
</IfModule>
<IfModule !mpm_prefork_module>
    StartServers 1
    ThreadsPerChild 8
    MinSpareThreads 4
    MaxSpareThreads 16
</IfModule>
ProxyRequests On
ProxyVia Off
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthRealm "Stop"
    ProxyAuthLDAPURL "ldap://127.0.0.1:$ENV{PAL_LDAP_PORT}/dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)"
    ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"
    ProxyAuthLDAPBindPassword "svc-secret"
    ProxyAuthLDAPTimeout 2
</Proxy>
EOC
    };
    diag "httpd_start: $@" unless $h;
    $h->{cache_conf} = $inc if $h;
    return $h;
}

sub alice_gets_200 {
    my ($h) = @_;
    local $PALTest::PROXY_HOSTPORT = "127.0.0.1:$h->{port}";
    my $r = proxy_request(GET => $URL, 'Proxy-Authorization' => $ALICE);
    return ($r->code == 200, $r->status_line);
}

sub count_resumed {
    my ($h) = @_;
    my @m = slurp($h->{error_log}) =~ /resuming normal operations/g;
    return scalar @m;
}

# SIGUSR1, then wait until the new generation has said "resuming normal
# operations" and alice is served again.
sub graceful_restart {
    my ($h) = @_;
    my $before = count_resumed($h);
    kill 'USR1', $h->{pid} or return (0, "kill USR1: $!");
    # About 0.1 s here; a generation that cannot serve (children crashing)
    # would otherwise keep this loop going.
    my $deadline = time + 10 * PALTest::timeout_scale();
    my ($resumed, $ok, $why) = (0, 0, 'no request yet');
    while (time < $deadline) {
        $resumed ||= count_resumed($h) > $before;
        if ($resumed) {
            ($ok, $why) = alice_gets_200($h);
            last if $ok;
        }
        sleep 0.1;
    }
    return (1, '') if $ok;
    return (0, $resumed ? "after the restart alice got: $why"
                        : 'no new "resuming normal operations" in the error_log');
}

sub crash_lines {
    my ($h) = @_;
    return grep { /Segmentation fault|exit signal|AH00052/ } split /\n/, slurp($h->{error_log});
}

sub tail_of {
    my ($h) = @_;
    my @l = split /\n/, slurp($h->{error_log});
    splice @l, 0, @l - 12 if @l > 12;
    return join '', map { "    $_\n" } @l;
}

for my $kind (qw(shmcb redis)) {
    for my $c (@cases) {
        my ($what, $restarts, $sig) = @$c;
        my $name = "$kind: $what";
      SKIP: {
            skip "$name: $no_redis", 4 + @$restarts if $kind eq 'redis' && $no_redis;
            my $h = start_proxy($kind);
            ok $h, "$name: httpd starts"
                or skip "$name: httpd did not start", 3 + @$restarts;
            my ($ok, $why) = alice_gets_200($h);
            ok $ok, "$name: alice gets 200 through the proxy" or diag $why;
            my $i = 0;
            for my $s (@$restarts) {
                $i++;
                my ($rok, $rwhy) = graceful_restart($h);
                ok $rok, "$name: graceful restart $i: serving alice again" or diag $rwhy;
            }
            my $status = httpd_stop_signal($h, $sig, timeout => 20);
            is $status, 0, "$name: httpd exits 0"
                or diag "httpd: $h->{status_text}; its error_log ends:\n" . tail_of($h);
            my @bad = crash_lines($h);
            ok !@bad, "$name: no crashed process in the error_log" or diag join "\n", @bad;
        }
    }
}

# ProxyAuthCache changed at a graceful restart (shmcb -> redis, redis -> shmcb).
for my $sw (['shmcb', 'redis'], ['redis', 'shmcb']) {
    my ($from, $to) = @$sw;
    my $name = "ProxyAuthCache $from -> $to at a graceful restart";
  SKIP: {
        skip "$name: $no_redis", $per_switch if $no_redis;
        my $h = start_proxy($from, 1);
        ok $h, "$name: httpd starts" or skip "$name: httpd did not start", $per_switch - 1;
        my ($ok, $why) = alice_gets_200($h);
        ok $ok, "$name: alice gets 200 before" or diag $why;
        write_file($h->{cache_conf}, cache_conf($to, 1));
        my ($rok, $rwhy) = graceful_restart($h);
        ok $rok, "$name: after the restart alice still gets 200" or diag $rwhy;
        like slurp($h->{error_log}), qr/PAL0014/, "$name: PAL0014 logged";
        my $status = httpd_stop($h, timeout => 20);
        is $status, 0, "$name: then SIGTERM: httpd exits 0"
            or diag "httpd: $h->{status_text}; its error_log ends:\n" . tail_of($h);
        my @bad = crash_lines($h);
        ok !@bad, "$name: no crashed process in the error_log" or diag join "\n", @bad;
    }
}
