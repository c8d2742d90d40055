# Installing on Debian as README's "Installing on Debian" says: the
# packages are built with dpkg-buildpackage, checked by lintian, installed
# into the system apache2, enabled with a2enmod, configured by editing the
# files the packages ship, and run: apache2 with apache2ctl, the daemons
# through their systemd units where systemd runs, else with the units' own
# command lines and users. A job goes through and comes back identical to
# local mode. Then everything is purged and /etc/apache2 must be as it was.
# Needs root; the system apache2 is left stopped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Path qw(remove_tree);
use Time::HiRes qw(time sleep);
use TilerTest;

TilerTest::need($> == 0, 'root (the packages go into the system apache2)');
for my $tool (qw(dpkg-buildpackage lintian a2enmod apache2ctl systemd-analyze)) {
    TilerTest::need(system("command -v $tool >/dev/null") == 0, "$tool (scripts/check installs it)");
}
my $t = TilerTest->new(name => 'deb');
TilerTest::need($t->kafka_ready, "a Kafka broker on $t->{brokers} (scripts/kafka start)");
my $top = $TilerTest::TOP;
my @packages = qw(libapache2-mod-tiler tiler-worker);

sub run_ok {
    my ($cmd, $name) = @_;
    my $out = `$cmd 2>&1`;
    ok($? == 0, $name) or diag("$cmd:\n$out");
    return $out;
}

# Files, links and modes under /etc/apache2, with each file's checksum.
sub etc_apache2 {
    return scalar `find /etc/apache2 -printf '%p %y %m %l\\n' | sort; find /etc/apache2 -type f -print0 | sort -z | xargs -0 md5sum`;
}

# One run at a time on a machine: they share the system's apache2, dpkg and
# the tiler user.
open my $lock, '>', '/var/lock/mod_tiler-deb-test.lock' or die $!;
flock($lock, 2) or die $!;

# The system apache2 must be ours to start and stop.
my $running = eval { TilerTest::slurp('/var/run/apache2/apache2.pid') =~ s/\s+//gr } // '';
TilerTest::need(!($running && kill(0, $running)), "the system apache2 stopped (pid $running runs)");
TilerTest::need(system("ss -Hltn 'sport = :80' | grep -q .") != 0, "port 80 free (Debian's ports.conf listens there)");

# What a run that died midway left: the packages (installed, or removed with
# their configs), the test's Listen conf.
sub leftovers {
    system('a2disconf -q tiler-test >/dev/null 2>&1; rm -f /etc/apache2/conf-available/tiler-test.conf');
    system("apt-get purge -y -qq @packages >/dev/null 2>&1")
        if grep { `dpkg-query -W -f='\${db:Status-Status}' $_ 2>/dev/null` =~ /installed|config-files/ } @packages;
}
leftovers();
my $etc_before = etc_apache2();
ok(!-e '/etc/apache2/mods-enabled/tiler.load', 'mod_tiler is not enabled before');
my ($apache_pid, @daemons);
# However the test ends: the daemons and apache2 stopped, the packages gone.
END {
    local $?;   # what the system() calls below leave must not become the test's exit code
    if ($t && $> == 0) {
        kill 'TERM', $_ for @daemons;
        waitpid($_, 0) for @daemons;
        system('apache2ctl stop >/dev/null 2>&1') if $apache_pid && kill(0, $apache_pid);
        leftovers();
    }
}

# ---- build, as README says: from the source tree, dpkg-buildpackage ----
my $src = $t->dir . '/src/mod-tiler';
run_ok("mkdir -p $src && cd $top && git ls-files -co --exclude-standard | grep -v '^t/browser/node_modules/' | tar -cf - -T - | tar -xf - -C $src",
       'the source tree copied');
# nocheck: dh_auto_test would run the unit tests (make check) a fourth
# time in one scripts/check; they have run already, on this same tree.
run_ok("cd $src && DEB_BUILD_OPTIONS='nocheck parallel=2' dpkg-buildpackage -b -us -uc", 'dpkg-buildpackage -b -us -uc');
my @debs = map { glob($t->dir . "/src/${_}_*_*.deb") } @packages;
is(scalar @debs, 2, 'two packages: libapache2-mod-tiler and tiler-worker');
my ($changes) = glob($t->dir . '/src/*.changes');
my $lint = `lintian --fail-on error $changes 2>&1`;
is($?, 0, 'lintian finds no error') or diag($lint);
my @warnings = grep { /^W: / } split /\n/, $lint;
ok(!@warnings, 'and no warning (those explained are overridden in debian/*.lintian-overrides)') or diag(join "\n", @warnings);

# ---- install and enable ----
run_ok("apt-get install -y -qq @debs", 'apt-get install ./libapache2-mod-tiler_*.deb ./tiler-worker_*.deb');
ok(!-e '/etc/apache2/mods-enabled/tiler.load', 'installing does not enable the module (the admin does, once Kafka is configured)');
for my $d (qw(tiler-worker tiler-monitor)) {
    ok(getpwnam($d), "the $d system user exists");
    my @st = stat "/etc/mod_tiler/$d.conf";
    ok(@st && ($st[2] & 07777) == 0640 && $st[4] == 0 && $st[5] == ((getgrnam($d))[2] // -1),
       "/etc/mod_tiler/$d.conf is root:$d 0640 (it may hold Kafka credentials; the other daemon cannot read it)");
}
run_ok('systemd-analyze verify tiler-monitor.service tiler-worker@1.service', 'systemd-analyze verify accepts both units');

# apache2 runs first without the module, on a port of its own (in a conf
# of its own, removed at the end; Debian's ports.conf still listens on 80).
my $port = TilerTest::free_port(23400);
TilerTest::spew('/etc/apache2/conf-available/tiler-test.conf', "Listen 127.0.0.1:$port\n");
run_ok('a2enconf tiler-test', 'a test Listen port enabled');
my $log_from = -s '/var/log/apache2/error.log' // 0;
run_ok('apache2ctl start', 'apache2ctl start (without mod_tiler)');
my $http = HTTP::Tiny->new(timeout => 60);
my $base = "http://127.0.0.1:$port/tiler";
my $before;
for (1 .. 100) { $before = $http->get("$base/api/jobs"); last if $before->{status} != 599; sleep 0.1 }
is($before->{status}, 404, 'no mod_tiler yet: 404');
# It answers, so its pid file is written.
$apache_pid = eval { TilerTest::slurp('/var/run/apache2/apache2.pid') =~ s/\s+//gr };
ok($apache_pid && kill(0, $apache_pid), 'apache2 runs with its pid file (' . ($apache_pid // 'none') . ')');

# ---- configure, as an admin edits the shipped files ----
my %topics = %{ $t->{topics} };
my %groups = %{ $t->{groups} };
sub edit {
    my ($file, $edits) = @_;
    my $text = TilerTest::slurp($file);
    for my $e (@$edits) { $text =~ s/$e->[0]/$e->[1]/ or die "$file: no $e->[0]" }
    TilerTest::spew($file, $text);
}
my $ind = '    ';
edit('/etc/apache2/mods-available/tiler.conf', [
    [qr/^\s*TilerBrokers .*$/m, "${ind}TilerBrokers $t->{brokers}"],
    [qr/^\s*TilerTasksTopic .*$/m, "${ind}TilerTasksTopic $topics{tasks}"],
    [qr/^\s*TilerResultsTopic .*$/m, "${ind}TilerResultsTopic $topics{results}"],
    [qr/^\s*TilerHeartbeatsTopic .*$/m, "${ind}TilerHeartbeatsTopic $topics{heartbeats}"],
    [qr/^\s*TilerDeadLetterTopic .*$/m, "${ind}TilerDeadLetterTopic $topics{dead_letters}"],
    [qr/^\s*TilerResultsGroup .*$/m, "${ind}TilerResultsGroup $groups{results}"],
    [qr/^\s*TilerWorkerGroup .*$/m, "${ind}TilerWorkerGroup $groups{workers}"],
    # The <Location> the file holds commented out (the first one).
    [qr/^\s*# <Location \/tiler>\n\s*#\s*SetHandler tiler\n/m, "${ind}<Location /tiler>\n${ind}${ind}SetHandler tiler\n"],
    [qr/^\s*# <\/Location>$/m, "${ind}</Location>"],
]);
for my $d (['worker', 'workers'], ['monitor', 'monitor']) {
    edit("/etc/mod_tiler/tiler-$d->[0].conf", [
        [qr/^brokers = .*$/m, "brokers = $t->{brokers}"],
        [qr/^group = .*$/m, "group = $groups{$d->[1]}"],
        [qr/^tasks-topic = .*$/m, "tasks-topic = $topics{tasks}"],
        [qr/^heartbeats-topic = .*$/m, "heartbeats-topic = $topics{heartbeats}"],
        $d->[0] eq 'worker'
            ? ([qr/^results-topic = .*$/m, "results-topic = $topics{results}"],
               [qr/^dead-letter-topic = .*$/m, "dead-letter-topic = $topics{dead_letters}"])
            : ([qr/^workers-group = .*$/m, "workers-group = $groups{workers}"]),
    ]);
}
# Then, as README says: a2enmod tiler, apache2ctl graceful.
run_ok('a2enmod tiler', 'a2enmod tiler');
ok(-l '/etc/apache2/mods-enabled/tiler.load' && -l '/etc/apache2/mods-enabled/tiler.conf', 'tiler.load and tiler.conf enabled');
run_ok('apache2ctl configtest', 'apache2ctl configtest');
run_ok('apache2ctl graceful', 'apache2ctl graceful');
my $up;
for (1 .. 200) { my $r = $http->get("$base/api/jobs"); if ($r->{status} == 200) { $up = 1; last } sleep 0.1 }
ok($up, "the module answers at $base");
my $started;
for (1 .. 100) {
    open my $el, '<', '/var/log/apache2/error.log';
    seek $el, $log_from, 0 if $el;
    last if ($started) = grep { /\[tiler:info\].*AH30003: mod_tiler ready/ } ($el ? <$el> : ());
    sleep 0.1;
}
ok($started, 'its start is in the error log (tiler.conf sets LogLevel tiler:info)');

# ---- the daemons: systemd where it runs, else the units' command lines ----
my $systemd = -d '/run/systemd/system';
if ($systemd) {
    run_ok('systemctl start tiler-monitor.service tiler-worker@1.service', 'systemctl start tiler-monitor tiler-worker@1');
} else {
    for my $unit (['tiler-monitor.service', ''], ['tiler-worker@.service', '1']) {
        my $text = TilerTest::slurp("/lib/systemd/system/$unit->[0]");
        my ($exec) = $text =~ /^ExecStart=(.*)$/m;
        my ($user) = $text =~ /^User=(\S+)$/m;
        my ($umask) = $text =~ /^UMask=(\d+)$/m;
        my ($state) = $text =~ /^StateDirectory=(\S+)$/m;
        chomp(my $host = `hostname`);
        $exec =~ s/%H/$host/g;
        $exec =~ s/%i/$unit->[1]/g;
        if ($state) {   # what systemd's StateDirectory= makes
            system("mkdir -p /var/lib/$state && chown $user:$user /var/lib/$state && chmod 0755 /var/lib/$state") == 0
                or diag("cannot make /var/lib/$state");
        }
        my $log = $t->dir . "/$unit->[0].log";
        my $pid = fork // die;
        if (!$pid) {
            open STDOUT, '>', $log; open STDERR, '>&', \*STDOUT;
            setpgrp(0, 0);
            umask oct($umask // '0022');
            # What of the unit's sandbox setpriv can give: its user, no new
            # privileges, no capabilities.
            exec('setpriv', "--reuid=$user", "--regid=$user", '--init-groups', '--no-new-privs', '--bounding-set=-all',
                 split(' ', $exec));
            exit 127;
        }
        push @daemons, $pid;
        pass("$unit->[0]: $exec, as $user");
    }
}
my $alive;
for (1 .. 300) {
    my $r = $http->get("$base/api/workers");
    if ($r->{status} == 200 && $r->{content} =~ /"state":"alive"/) { $alive = 1; last }
    sleep 0.1;
}
ok($alive, 'the monitor reports the worker alive (its snapshot in /var/lib/mod_tiler/monitor)');

# ---- a job, against local mode ----
my $img = $t->make_image('deb.png', 1100, 700, 'png', 0, 7);
my $r = $http->request('POST', "$base/api/jobs?ops=grayscale,blur:2", { content => TilerTest::slurp($img), headers => { 'Content-Type' => 'image/png' } });
is($r->{status}, 202, 'a job accepted') or diag($r->{content});
my ($id) = ($r->{content} // '') =~ /"id":"([0-9a-f]{32})"/;
my $state = '';
for (1 .. 600) {
    my $s = $http->get("$base/api/jobs/" . ($id // 'none'));
    ($state) = ($s->{content} // '') =~ /"state":"(\w+)"/;
    last if ($state // '') =~ /^(done|failed)$/;
    sleep 0.1;
}
is($state, 'done', 'the job is done');
my $res = $http->get("$base/api/jobs/" . ($id // 'none') . '/result');
TilerTest::spew($t->dir . '/deb-result.png', $res->{content} // '');
my $local = $t->dir . '/deb-local.png';
run_ok("/usr/sbin/tiler-worker --local $img $local --ops grayscale,blur:2", 'the installed tiler-worker --local');
my ($cmp, $same) = $t->imgcmp($t->dir . '/deb-result.png', $local);
ok($same, "the result is local mode's: $cmp");
# The zoomable view's viewer (OpenSeadragon, vendored) is installed with its
# licence and served like the other scripts.
ok(-f "/usr/share/mod_tiler/htdocs/$_", "/usr/share/mod_tiler/htdocs/$_ is installed")
    for qw(openseadragon.min.js openseadragon-LICENSE.txt);
my $osd = $http->get("$base/static/openseadragon.min.js");
ok($osd->{status} == 200 && length($osd->{content} // '') == -s "$top/htdocs/openseadragon.min.js",
   "and served at $base/static/openseadragon.min.js ($osd->{status})");

# ---- stop, purge, and /etc/apache2 as it was ----
if ($systemd) { system('systemctl stop tiler-monitor.service tiler-worker@1.service') }
for my $pid (@daemons) { kill 'TERM', $pid; waitpid($pid, 0); is($? >> 8, 0, "daemon $pid stopped cleanly") }
@daemons = ();
# Debian's envvars put the pid file in /var/run/apache2 (other httpds of
# the test suite may run meanwhile: only this one is waited for).
run_ok('apache2ctl stop', 'apache2ctl stop');
my $gone;
for (1 .. 100) { if (!$apache_pid || !kill(0, $apache_pid)) { $gone = 1; last } sleep 0.1 }
ok($apache_pid && $gone, "apache2 (pid " . ($apache_pid // '?') . ") stopped");
open my $log, '<', '/var/log/apache2/error.log';
seek $log, $log_from, 0 if $log;
my @bad = grep { /\[(?:[a-z_]+:)?(?:warn|error|crit|alert|emerg)\]|Segmentation|AH00052/ } ($log ? <$log> : ());
ok(!@bad, 'apache2\'s error log has no warning or error from this run') or diag(@bad);
run_ok('a2disconf tiler-test && rm /etc/apache2/conf-available/tiler-test.conf', 'the test port removed');
run_ok("apt-get purge -y -qq @packages", 'apt-get purge');
my $etc_after = etc_apache2();
TilerTest::spew($t->dir . '/etc-before', $etc_before);
TilerTest::spew($t->dir . '/etc-after', $etc_after);
ok($etc_after eq $etc_before, '/etc/apache2 is as it was') or diag(scalar `diff -u @{[ $t->dir ]}/etc-before @{[ $t->dir ]}/etc-after`);
ok(!getpwnam($_), "the $_ user is gone") for qw(tiler-worker tiler-monitor);
ok(!-e $_, "$_ is gone") for '/etc/mod_tiler', '/var/lib/mod_tiler', '/var/lib/apache2/tiler', '/usr/lib/apache2/modules/mod_tiler.so';
system($t->bin('t/tools/tiler-deltopics'), $t->{brokers}, values %topics);
done_testing;
# Its directory goes when the test passed (this test starts no httpd of the
# harness's, so TilerTest::finish, which reads one's error log, is not used).
remove_tree($t->dir) if Test::More->builder->is_passing && !$ENV{TILER_KEEP};
