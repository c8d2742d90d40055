# Poison input: a task no worker can process (corrupt payload, unknown
# version) fails its job with a clear error, is copied to the dead-letter
# topic and does not stop the worker. A task that crashes the worker again
# and again is skipped after --max-crashes crashes, its job failed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'poison',
    allow_log => [qr/AH30318: job [0-9a-f]{32} failed: tile \d+ could not be processed/]);
my $crash_ops = 'invert,invert,invert';
my %crash_env = (TILER_TEST_CRASH_ON_OPS => $crash_ops);
$t->require_test_hooks;   # TILER_TEST_*: ./configure --enable-test-hooks
$t->start_all(workers => 0);
$t->start_worker($_, %crash_env) for 1, 2;
my $inject = $t->bin('t/tools/tiler-inject');
my $img = $t->make_image('p.png', 300, 200, 'png', 0, 61);
my $dlq_topic = $t->{topics}{dead_letters};

sub dead_letters {
    my $out = `kcat -b $t->{brokers} -C -t $dlq_topic -e -q -f '%h|%k\\n' 2>/dev/null`;
    return $out;
}

# Runs a poison case: the job's real tiles are skipped (the workers' group is
# moved past them), so the injected message is all the workers see of it.
sub poison_case {
    my ($name, $kind, $want) = @_;
    $t->stop_process("worker$_") for 1, 2;
    my ($r, $j) = $t->submit($img, 'grayscale');
    is($r->{status}, 202, "$name: job accepted");
    is(system($inject, $t->{brokers}, $t->{topics}{tasks}, 'skip', $t->{groups}{workers}), 0, "$name: real tiles skipped");
    is(system($inject, $t->{brokers}, $t->{topics}{tasks}, $kind, $j->{id}), 0, "$name: poison injected");
    $t->start_worker($_, %crash_env) for 1, 2;
    my ($s) = $t->wait_job($j->{id}, 60);
    is($s->{state}, 'failed', "$name: the job fails");
    like($s->{error} // '', $want, "$name: with a clear error: " . ($s->{error} // ''));
    return $j->{id};
}

my $id1 = poison_case('corrupt payload', 'corrupt', qr/could not be processed: message has no TILE magic/);
my $id2 = poison_case('unknown version', 'badversion', qr/could not be processed: message has unknown version 9/);
my $dl = dead_letters();
like($dl, qr/tiler-error=message has no TILE magic,tiler-source=\Q$t->{topics}{tasks}\E\/\d+\/\d+/, 'the corrupt task is in the dead-letter topic, with why and whence');
like($dl, qr/tiler-error=message has unknown version 9/, 'so is the unknown version');

# The workers go on: a good job after the poison.
{
    my ($r, $j) = $t->submit($img, 'blur:1');
    my ($s) = $t->wait_job($j->{id}, 60);
    is($s->{state}, 'done', 'the workers still process good jobs after poison');
}

# A crash loop: every worker that takes this tile aborts. Each supervisor
# restarts its worker; after 2 crashes on the same message it is skipped.
{
    my ($r, $j) = $t->submit($img, $crash_ops);
    is($r->{status}, 202, 'crashing job accepted');
    my ($s) = $t->wait_job($j->{id}, 120);
    is($s->{state}, 'failed', 'the crashing job fails instead of stalling its partition');
    like($s->{error} // '', qr/could not be processed: it crashed the worker 2 times/, 'with the reason: ' . ($s->{error} // ''));
    my $logs = join '', map { TilerTest::slurp($t->dir . "/logs/worker$_.log") } 1, 2;
    like($logs, qr/error: worker process died of signal 6 on \S+ \(crash 1 of 2 allowed\); restarting/, 'the supervisor saw the crash and restarted');
    like(dead_letters(), qr/tiler-error=it crashed the worker 2 times/, 'the crashing task is dead-lettered');
    ok(kill(0, $t->{pids}{"worker$_"}), "worker$_ is still running") for 1, 2;
    ($r, $j) = $t->submit($img, 'grayscale');
    ($s) = $t->wait_job($j->{id}, 60);
    is($s->{state}, 'done', 'and the next job completes');
}

# A crash with several tasks in hand blames none of them: the next worker
# process runs each of them alone, where a crash is its own.
{
    $t->stop_process("worker$_") for 1, 2;
    $t->start_worker(1, %crash_env, args => ['--threads', 2]);
    my $log_before = length TilerTest::slurp($t->dir . '/logs/worker1.log');
    my $two_tiles = $t->make_image('p2.png', 700, 200, 'png', 0, 62);
    my ($r, $j) = $t->submit($two_tiles, $crash_ops);
    is($r->{status}, 202, 'two crashing tiles accepted');
    my ($s) = $t->wait_job($j->{id}, 120);
    is($s->{state}, 'failed', 'the job fails');
    like($s->{error} // '', qr/it crashed the worker 2 times/, 'after crashes counted one task at a time');
    my $log = substr(TilerTest::slurp($t->dir . '/logs/worker1.log'), $log_before);
    like($log, qr/error: worker process died of signal 6 with 2 tasks in hand; restarting, and running each of them alone/,
         'a crash with two tasks in hand counts against neither');
    like($log, qr/info: running task \S+ alone: it was in hand when a worker process crashed/, 'each suspect then runs alone');
    like($log, qr/with 2 tasks in hand.*\(crash 1 of 2 allowed\).*\(crash 2 of 2 allowed\)/s,
         'and its own crashes are counted');
    unlike($log, qr/\(crash 3 of/, 'no task is blamed for more crashes than it caused');
    ok(kill(0, $t->{pids}{worker1}), 'the worker is still running');
    ($r, $j) = $t->submit($img, 'grayscale');
    ($s) = $t->wait_job($j->{id}, 90);
    is($s->{state}, 'done', 'and then completes a good job with two threads');
}

$t->finish;
done_testing;
