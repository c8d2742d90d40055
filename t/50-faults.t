# Fault tolerance: each fault hits a job in flight, and the job must still
# complete with tiles_done == tiles_total exactly and a result byte-identical
# to local mode.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'faults', own_broker => 1, directives => "TilerTileSize 256\n",
    allow_log => [
        # What httpd and librdkafka say while the faults happen.
        qr/AH00052: child pid \d+ exit signal Killed/,
        qr/kafka .*(Connect to|Disconnected|brokers are down|Receive failed|Send failed|Connection refused|timed out|Failed to|Coordinator)/,
        qr/kafka results consumer COMMITFAIL: .*(Waiting for coordinator|Unknown member)/,
        qr/AH30310: job [0-9a-f]{32}: cannot count tile/,
    ]);
$t->require_test_hooks;   # TILER_TEST_TILE_MS: ./configure --enable-test-hooks
# Each task takes 25 ms more: 384 tiles on four threads take at least
# 2.4 s, so a fault meets the job in flight (the upload's 202 comes once
# its tiles are all out, and a fast machine had done the rest by then).
$ENV{TILER_TEST_TILE_MS} = 25;
$t->start_all(workers => 2);
my $ops = 'grayscale,blur:3';
my $input = $t->make_image('fault.jpg', 6000, 4000, 'jpeg', 0, 41);
$t->local_result($input, $ops, $_) for 'jpeg', 'png', 'tiff';   # the references, made once before the faults

# Submits the job, waits until it is part-way, injects the fault, waits for
# the end and checks the result.
sub fault_case {
    my ($name, $inject, $after, $format) = @_;
    $format //= 'jpeg';
    my ($r, $j) = $t->submit($input, $ops, format => $format);
    is($r->{status}, 202, "$name: job accepted") or return;
    my $mid;
    my $deadline = time + 120;
    while (time < $deadline) {
        my (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
        if ($s && $s->{tiles_done} >= $s->{tiles_total} * 0.15) { $mid = $s; last; }
        sleep 0.02;
    }
    ok($mid && $mid->{tiles_done} < $mid->{tiles_total}, "$name: fault hits mid-job ("
       . ($mid ? "$mid->{tiles_done}/$mid->{tiles_total}" : 'never got there') . ')');
    my $t0 = time;
    $inject->();
    my ($final) = $t->wait_job($j->{id}, 180);
    $after->() if $after;
    is($final->{state}, 'done', "$name: job completes") or diag(explain $final);
    is($final->{tiles_done}, $final->{tiles_total}, "$name: tiles_done equals tiles_total ($final->{tiles_done})");
    # Nothing lost on the way: no tile had to be cut again, which would
    # hide a worker that stored a task's offset without its result. (A
    # broker killed mid-job may lose an acknowledged write: not asserted.)
    is($final->{resends}, 0, "$name: no tile lost, none resent") unless $name =~ /broker/;
    my ($msg, $same) = $t->matches_local($j->{id}, $input, $ops, $format);
    ok($same, "$name: result identical to local mode ($msg)");
    note(sprintf "%s: finished %.1f s after the fault", $name, time - $t0);
    return $j->{id};
}

fault_case('worker SIGKILL', sub { $t->stop_process('worker1', 'KILL') }, sub { $t->start_worker(1) });

fault_case('worker SIGSTOP past the session timeout', sub {
    kill 'STOP', -$t->{pids}{worker2};   # the supervisor and its worker
    sleep 8;
    kill 'CONT', -$t->{pids}{worker2};
});

fault_case('third worker joins (rebalance)', sub { $t->start_worker(3) }, sub { $t->stop_process('worker3') });

fault_case('Kafka broker SIGKILL and restart', sub {
    $t->kafka('kill');
    sleep 1;
    $t->kafka('start') or diag('broker did not restart');
});

# PNG jobs for these two: a 24 MP result is over TilerPreviewAbovePixels,
# so its zoom pyramid is being fed from the raster when the fault hits (the
# old child of a graceful restart holds the feed's lock; a killed child
# leaves strips encoded): the job must still come out whole, and its view
# be built (from the result file) once it is done.
sub zoom_built {
    my ($name, $id) = @_;
    my ($j, $deadline) = (undef, time + 120);
    while ($id && time < $deadline) {
        (undef, $j) = $t->request('GET', "/tiler/api/jobs/$id");
        last if $j && $j->{zoom_url};
        sleep 0.1;
    }
    ok($j && $j->{zoom_url}, "$name: its zoomable view is built");
}

zoom_built('PNG: apachectl graceful', fault_case('PNG: apachectl graceful', sub {
    system('apache2', '-f', $t->dir . '/httpd.conf', '-k', 'graceful') == 0 or diag('graceful failed');
}, undef, 'png'));

zoom_built('PNG: SIGKILL of the results consumer', fault_case('PNG: SIGKILL of the child running the results consumer', sub {
    my $pid = $t->results_consumer_pid;
    ok($pid, "results consumer runs in pid " . ($pid // 'none'));
    kill 'KILL', $pid if $pid;
}, undef, 'png'));

fault_case('httpd stopped and started', sub {
    $t->stop_httpd;
    sleep 1;
    $t->start_httpd;
});

# A TIFF job (format=tiff) places its tiles' bytes before it counts them,
# as the raster path writes pixels first: the same faults of httpd lose
# nothing and resend nothing.
fault_case('TIFF: SIGKILL of the child running the results consumer', sub {
    my $pid = $t->results_consumer_pid;
    ok($pid, "results consumer runs in pid " . ($pid // 'none'));
    kill 'KILL', $pid if $pid;
}, undef, 'tiff');

fault_case('TIFF: httpd stopped and started', sub {
    $t->stop_httpd;
    sleep 1;
    $t->start_httpd;
}, undef, 'tiff');

$t->finish;
done_testing;
