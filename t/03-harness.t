# The harness stops everything a test starts, and scripts/check finds what
# was left anyway. httpd's children outlived their parent when a stop took
# too long and only the parent was killed; a worker's supervised child
# outlived a killed supervisor.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

# Live processes whose command line has $what: pid => command line.
sub running {
    my ($what) = @_;
    my %found;
    for my $f (glob '/proc/[0-9]*/cmdline') {
        my ($pid) = $f =~ m{/proc/(\d+)/};
        open my $sf, '<', "/proc/$pid/stat" or next;
        next if (<$sf> // '') =~ /\) Z /;   # dead, waiting to be reaped
        open my $fh, '<', $f or next;
        my $cmd = join ' ', split /\0/, do { local $/; <$fh> } // '';
        $found{$pid} = $cmd if index($cmd, $what) >= 0 && $pid != $$;
    }
    return \%found;
}

my $t = TilerTest->new(name => 'harness');
$t->start_all(workers => 1, monitor => 0);
my $conf = $t->dir . '/httpd.conf';      # on every httpd process's command line
my $worker = '--id worker1-harness';     # on the supervisor's and its child's
my $parent = $t->httpd_pid;
my @children = grep { $_ != $parent } keys %{ running($conf) };
ok(@children >= 2, "httpd runs its children (@children)");
my $deadline = time + 10;   # the supervisor forks its child once started
sleep 0.05 while keys %{ running($worker) } < 2 && time < $deadline;
is(scalar(keys %{ running($worker) }), 2, 'the worker runs as a supervisor and its child');

# A stop that hangs: the parent is gone (SIGKILL), its children are not.
kill 'KILL', $parent;
ok(scalar(grep { kill 0, $_ } @children), 'with the parent killed, its children still run');
$t->stop_httpd;
is_deeply(running($conf), {}, 'stop_httpd stops the children of a killed parent');

# A supervisor killed outright leaves its worker child; stop_process stops both.
$t->stop_process('worker1', 'KILL');
is_deeply(running($worker), {}, "stop_process stops a killed supervisor's worker child too");

# scripts/leftovers, which scripts/check runs last, finds what a run left.
my $mark = "harness-$$";
my $pid = fork // die "fork: $!";
if (!$pid) {
    $ENV{TILER_RUN_MARK} = $mark;
    POSIX::setsid();                 # gone from this test's sight, like an orphan
    exec 'sleep', '300' or die;
}
my $out = `$TilerTest::TOP/scripts/leftovers $mark`;
is($? >> 8, 1, 'scripts/leftovers fails when a marked process runs');
like($out, qr/^still running: pid $pid: sleep 300$/m, 'and names it');
$out = `$TilerTest::TOP/scripts/leftovers --kill $mark`;
waitpid($pid, 0);
is($?, 9, '--kill kills it');
$out = `$TilerTest::TOP/scripts/leftovers $mark`;
is($?, 0, 'and then nothing is left') or diag($out);

# A test that dies midway leaves nothing running either (DESTROY).
my $dying = "harness-dies-$$";
my $died = `TILER_RUN_MARK=$dying $^X -I$FindBin::Bin/lib -MTilerTest -e '
    my \$d = TilerTest->new(name => "harness-dies"); \$d->start_all(workers => 1); print "started ", \$d->dir, "\\n"; die "midway\\n"' 2>&1`;
isnt($?, 0, 'a test that dies midway fails');
like($died, qr/^started /m, 'after it started httpd and a worker') or diag($died);
$out = `$TilerTest::TOP/scripts/leftovers --kill $dying`;
is($?, 0, 'and leaves no process running') or diag($out);
File::Path::remove_tree($1) if $died =~ m{^started (/\S+/harness-dies-\w+)$}m;

# scripts/down with stale pid files (a run directory in /var/tmp outlives a
# reboot) whose pids now name some other process, in a process group of its
# own: it is not ours, and is left alone.
{
    my $run = $t->dir . '/stale-run';
    File::Path::make_path("$run/httpd/run");
    my $other = fork // die "fork: $!";
    if (!$other) { POSIX::setsid(); exec 'sleep', '300' or die; }
    for my $f ('monitor.pid', 'worker1.pid', 'httpd/run/httpd.pid') {
        open my $fh, '>', "$run/$f" or die "$run/$f: $!";
        print $fh "$other\n";
    }
    my $out = `TILER_RUN_DIR=$run $TilerTest::TOP/scripts/down 2>&1`;
    is($? >> 8, 0, 'scripts/down with stale pid files succeeds') or diag($out);
    ok(kill(0, $other) && waitpid($other, POSIX::WNOHANG()) == 0,
       'and leaves the unrelated process their pid names alone (its process group too)');
    ok(!-e "$run/monitor.pid" && !-e "$run/worker1.pid", 'the stale pid files are gone');
    kill 'KILL', $other;
    waitpid($other, 0);
}

$t->finish;
done_testing;
