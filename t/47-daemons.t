# The daemons as a service manager runs them: detached (no --foreground),
# with pid files, started as root with --user. The launcher exits 0 once the
# daemon runs, the pid file names the daemon, the detached monitor hears the
# detached worker, SIGTERM through the pid file stops both promptly; a pid
# file in a root-only directory is written before root is dropped; one that
# cannot be written, or a snapshot that cannot be, is said with the OS error;
# a pid file held by a running instance refuses a second one; SIGTERM is
# prompt even while the broker is down.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path);
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'daemons');
TilerTest::need($t->kafka_ready, "a Kafka broker on $t->{brokers} (scripts/kafka start)");
$t->start_httpd;
my $dir = $t->dir;

sub worker_cmd {
    my ($id, @extra) = @_;
    return ($t->bin('tiler-worker/tiler-worker'), '--brokers', $t->{brokers}, '--group', $t->{groups}{workers},
        '--tasks-topic', $t->{topics}{tasks}, '--results-topic', $t->{topics}{results},
        '--heartbeats-topic', $t->{topics}{heartbeats}, '--dead-letter-topic', $t->{topics}{dead_letters},
        '--id', $id, '--heartbeat-ms', 1000, @extra);
}
sub monitor_cmd {
    my ($snapshot, @extra) = @_;
    return ($t->bin('tiler-monitor/tiler-monitor'), '--brokers', $t->{brokers}, '--group', $t->{groups}{monitor},
        '--workers-group', $t->{groups}{workers}, '--tasks-topic', $t->{topics}{tasks},
        '--results-topic', $t->{topics}{results}, '--heartbeats-topic', $t->{topics}{heartbeats},
        '--dead-letter-topic', $t->{topics}{dead_letters}, '--snapshot', $snapshot, '--dead-after-ms', 5000, @extra);
}

# Runs a daemon without --foreground, output to logs/NAME.log; returns the
# launcher's exit code (it exits once the daemon is up, or failed).
sub launch {
    my ($name, @cmd) = @_;
    my $log = "$dir/logs/$name.log";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>>', $log;
        exec 'timeout', '60', @cmd or die "exec: $!";
    }
    waitpid($pid, 0);
    return $? >> 8;
}
sub log_of { my $f = "$dir/logs/$_[0].log"; -e $f ? TilerTest::slurp($f) : '' }
sub pid_in {
    my ($file) = @_;
    open my $fh, '<', $file or return;
    my $pid = <$fh> // '';
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}
sub wait_for {
    my ($cond, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) { return 1 if $cond->(); sleep 0.05; }
    return $cond->();
}
sub sid_of {
    my ($pid) = @_;
    open my $st, '<', "/proc/$pid/stat" or return;
    my $line = <$st>;
    return (split ' ', $line =~ s/^.*\)\s*//sr)[3];   # after "pid (comm)": state ppid pgrp session
}
sub uid_of {
    my ($pid) = @_;
    open my $st, '<', "/proc/$pid/status" or return;
    local $/;
    return (<$st> =~ /^Uid:\s+(\d+)/m)[0];
}
# SIGTERM through the pid file; seconds until the process was gone, or undef.
sub stop_via {
    my ($pidfile) = @_;
    my $pid = pid_in($pidfile) or return;
    my $t0 = time;
    kill 'TERM', $pid;
    return wait_for(sub { !kill 0, $pid }, 15) ? time - $t0 : undef;
}

# ---- detached worker and monitor ----
make_path("$dir/monitor");
chmod 0755, "$dir/monitor";
my ($wpid, $mpid) = ("$dir/run/worker.pid", "$dir/run/monitor.pid");
is(launch('worker', worker_cmd('detached-worker', '--pidfile', $wpid)), 0, 'detached worker: the launcher exits 0');
my $w = pid_in($wpid);
ok($w && kill(0, $w), 'its pid file, there when the launcher is done, names a running process');
is(launch('monitor', monitor_cmd("$dir/monitor/workers.json", '--pidfile', $mpid)), 0, 'detached monitor: the launcher exits 0');
my $m = pid_in($mpid);
ok($m && kill(0, $m), 'its pid file names a running process');
is($m && sid_of($m), $m, 'the monitor left the launcher\'s session (setsid)') if $m;

my $seen = $t->wait_workers_alive(1, 40);
my ($dw) = grep { $_->{id} eq 'detached-worker' } @{ $seen->{workers} || [] };
is($dw && $dw->{state}, 'alive', 'the detached monitor hears the detached worker (/api/workers)');
like(log_of('monitor'), qr/info: monitor started/, 'the monitor logs its start to the stderr it was given');

my $secs = stop_via($mpid);
ok(defined $secs && $secs < 5, sprintf('SIGTERM via the pid file stops the monitor promptly (%s s)', $secs // 'not at all'));
ok(!-e $mpid, 'and it removes its pid file');
like(log_of('monitor'), qr/info: stopping/, 'and logs its stop');
$secs = stop_via($wpid);
ok(defined $secs && $secs < 10, sprintf('SIGTERM via the pid file stops the worker (%s s)', $secs // 'not at all'));
ok(!-e $wpid, 'and it removes its pid file');
like(log_of('worker'), qr/info: worker detached-worker stopped after \d+ tiles/, 'after a clean stop');

# ---- SIGTERM while the broker is down ----
# Creating the topics waits up to 10 s for a broker that does not answer;
# a stop must not sit that out (the monitor took 12 s).
for my $kind ('worker', 'monitor') {
    my $pf = "$dir/run/$kind-nobroker.pid";
    my @cmd = map { $_ eq $t->{brokers} ? '127.0.0.1:1' : $_ }
        $kind eq 'worker' ? worker_cmd('nobroker', '--pidfile', $pf) : monitor_cmd("$dir/monitor/nobroker.json", '--pidfile', $pf);
    is(launch("$kind-nobroker", @cmd), 0, "$kind with no broker: starts");
    ok(wait_for(sub { log_of("$kind-nobroker") =~ /127\.0\.0\.1:1.*Connection refused/ }, 10), 'and tries the broker');
    my $secs = stop_via($pf);
    ok(defined $secs && $secs < 5, sprintf("$kind with no broker: SIGTERM stops it within 5 s (%s s)", $secs // 'not at all'));
}

# ---- a second instance with the same pid file ----
{
    my $pf = "$dir/run/twice.pid";
    is(launch('monitor-first', monitor_cmd("$dir/monitor/first.json", '--pidfile', $pf)), 0, 'a monitor starts');
    my $first = pid_in($pf);
    is(launch('monitor-second', monitor_cmd("$dir/monitor/second.json", '--pidfile', $pf)), 2,
       'a second monitor with the same pid file is refused (exit 2)');
    like(log_of('monitor-second'), qr/error: pid file \Q$pf\E is held by another running instance \(pid $first\)/,
         'and says so in one line');
    is(pid_in($pf), $first, 'the pid file still names the first');
    ok(defined stop_via($pf), 'which stops');
    ok(!-e $pf, 'and removes its pid file');
}

# ---- pid files that cannot be written ----
for my $kind ('worker', 'monitor') {
    my @cmd = $kind eq 'worker' ? worker_cmd('nopid', '--pidfile', "$dir/missing/x.pid")
                                : monitor_cmd("$dir/monitor/none.json", '--pidfile', "$dir/missing/x.pid");
    is(launch("$kind-nopid", @cmd), 2, "$kind: an unwritable pid file exits 2");
    like(log_of("$kind-nopid"), qr{error: cannot write pid file \Q$dir\E/missing/x\.pid: No such file or directory},
         'and says so with the OS error');
}

# ---- as root: pid file in a root-only directory, then --user ----
SKIP: {
    if ($> != 0) {
        TilerTest::missing('root, for pid files and --user');
        skip 'pid files and --user need root', 10;
    }
    my $nobody = getpwnam('nobody');
    make_path("$dir/rootonly");
    chmod 0700, "$dir/rootonly";
    my $pf = "$dir/rootonly/monitor.pid";
    my $snapdir = "$dir/state/monitor";   # missing: the monitor makes it, for nobody
    is(launch('monitor-nobody', monitor_cmd("$snapdir/workers.json", '--pidfile', $pf, '--user', 'nobody')), 0,
       'monitor --user nobody with a pid file in a root-only directory starts');
    my $p = pid_in($pf);
    ok($p && kill(0, $p), 'its pid file is written (as root, before dropping root)');
    is($p && uid_of($p), $nobody, 'and it runs as nobody') if $p;
    is((stat $snapdir)[4], $nobody, 'the missing snapshot directory was made for nobody');
    ok(wait_for(sub { -s "$snapdir/workers.json" }, 20), 'where it writes the snapshot');
    ok(defined stop_via($pf), 'SIGTERM via the pid file stops it');
    ok(!-s $pf, 'and the pid file it may not remove names no process any more');

    # A snapshot directory it cannot write to: the OS error is logged.
    make_path("$dir/rootdir");
    chmod 0755, "$dir/rootdir";
    is(launch('monitor-nowrite', monitor_cmd("$dir/rootdir/workers.json", '--pidfile', "$dir/run/nowrite.pid",
                                             '--user', 'nobody')), 0, 'a monitor that cannot write its snapshot still starts');
    ok(wait_for(sub { log_of('monitor-nowrite') =~ /error: cannot write snapshot \Q$dir\E\/rootdir\/workers\.json\.tmp: Permission denied/ }, 20),
       'and logs the file and the OS error');
    ok(defined stop_via("$dir/run/nowrite.pid"), 'and stops');
}

# ---- the example configs: valid, and paths that work together ----
{
    my $conf = "$TilerTest::TOP/conf";
    my %mon = TilerTest::slurp("$conf/tiler-monitor.conf") =~ /^\s*([a-z-]+)\s*=\s*(\S+)/mg;
    my ($snap) = TilerTest::slurp("$conf/tiler.conf") =~ /^\s*TilerMonitorSnapshot\s+(\S+)/m;
    my ($spool) = TilerTest::slurp("$conf/tiler.conf") =~ /^\s*TilerSpoolDir\s+(\S+)/m;
    is($mon{snapshot}, $snap, 'tiler-monitor.conf and tiler.conf name the same snapshot');
    ok($snap && $spool && index($snap, "$spool/") != 0, "the snapshot ($snap) is not in the spool ($spool), which httpd's user owns");
    # Each file parses: the daemon gets as far as its pid file.
    for my $kind ('worker', 'monitor') {
        my @cmd = ($t->bin("tiler-$kind/tiler-$kind"), '-c', "$conf/tiler-$kind.conf", '--foreground',
                   '--pidfile', "$dir/missing/x.pid", $kind eq 'monitor' ? ('--snapshot', "$dir/monitor/x.json") : ());
        my $out = `@cmd 2>&1`;
        like($out, qr/cannot write pid file/, "conf/tiler-$kind.conf is valid") or diag($out);
    }
}

# Whatever of this test is still running (a pid file never written, a
# SIGTERM ignored) is killed, found by its group name on its command line.
for my $cmd (glob '/proc/[0-9]*/cmdline') {
    my ($pid) = $cmd =~ m{/proc/(\d+)/};
    open my $fh, '<', $cmd or next;
    my $args = do { local $/; <$fh> } // '';
    next unless index($args, $t->{groups}{workers}) >= 0;
    kill 'KILL', $pid;
    fail("pid $pid was left running: " . ($args =~ s/\0/ /gr));
}
$t->finish;
done_testing;
