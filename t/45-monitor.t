# tiler-monitor: worker states (alive, suspect, dead) with every transition
# logged, tiles per second, the backlog of tasks per partition with its
# owners, stuck jobs, and how it runs (flags, config file, SIGTERM).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempfile);
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $t = TilerTest->new(name => 'monitor', directives => "TilerStuckSeconds 2\nTilerTileSize 256\n");
$t->start_all(workers => 2);

sub wait_for {
    my ($what, $cond, $secs) = @_;
    my $deadline = time + ($secs // 20);
    my $last;
    while (time < $deadline) {
        $last = $cond->();
        return $last if $last;
        sleep 0.2;
    }
    return;
}
sub get { my (undef, $d) = $t->request('GET', $_[0]); return $d }
sub worker_state {
    my ($id) = @_;
    my $d = get('/tiler/api/workers') or return '';
    my ($w) = grep { $_->{id} eq $id } @{ $d->{workers} };
    return $w ? $w->{state} : '';
}

# ---- a job through, then rates, owners and an empty backlog ----
my $img = $t->make_image('m.png', 2048, 1536, 'png', 0, 51);
my ($r, $j) = $t->submit($img, 'blur:2');
my ($done) = $t->wait_job($j->{id}, 60);
is($done->{state}, 'done', 'a first job runs');
is($done->{stuck}, JSON::PP::false, 'a done job is not stuck');
my $w = $t->wait_workers_alive(2, 30);
is(scalar(grep { $_->{state} eq 'alive' } @{ $w->{workers} || [] }), 2, 'two workers alive');
ok(exists $_->{tiles_per_second}, "$_->{id} reports tiles_per_second") for @{ $w->{workers} || [] };
like($_->{threads} // '', qr/^[1-9]\d*$/, "$_->{id} reports its processing threads") for @{ $w->{workers} || [] };
# Offsets are committed once a second, so the backlog drains just after the job.
my $cl = wait_for('owned partitions', sub { my $c = get('/tiler/api/cluster');
    $c && defined $c->{backlog} && $c->{backlog} == 0 && (grep { $_->{owner} } @{ $c->{partitions} }) == 12 && $c });
ok($cl, 'the cluster view has all 12 partitions owned and nothing waiting once the job is done');
my %owners = map { ($_->{owner} // '') => 1 } @{ $cl->{partitions} || [] };
is_deeply([sort keys %owners], ['worker1-monitor', 'worker2-monitor'], 'the two workers share the partitions');
ok(defined $cl->{partitions}[0]{high_watermark} && exists $cl->{partitions}[0]{lag}, 'partitions carry high watermark and lag');
is($cl->{totals}{workers_alive}, 2, 'totals count the live workers');

# ---- backlog and stuck: no workers, a job waits ----
$t->stop_process("worker$_") for 1, 2;
($r, $j) = $t->submit($img, 'invert');
is($r->{status}, 202, 'job submitted with no worker running');
$cl = wait_for('backlog', sub { my $c = get('/tiler/api/cluster'); $c && ($c->{backlog} // 0) == $j->{tiles_total} && $c }, 15);
ok($cl, "backlog shows the job's $j->{tiles_total} waiting tiles");
ok(!(grep { $_->{owner} } @{ $cl->{partitions} || [] }), 'no owners once the workers left the group') if $cl;
my $s = wait_for('stuck', sub { my $x = get("/tiler/api/jobs/$j->{id}"); $x && $x->{stuck} && $x }, 15);
ok($s, 'a job with no progress while tasks wait is flagged stuck');
$t->start_worker($_) for 1, 2;
($done) = $t->wait_job($j->{id}, 60);
is($done->{state}, 'done', 'it completes once workers return');
is($done->{stuck}, JSON::PP::false, 'and is no longer stuck');

# ---- suspect, dead, alive again ----
wait_for('alive', sub { worker_state('worker2-monitor') eq 'alive' });
kill 'STOP', -$t->{pids}{worker2};   # the supervisor and its worker
ok(wait_for('suspect', sub { worker_state('worker2-monitor') eq 'suspect' }, 10), 'a silent worker turns suspect after 2 missed heartbeats');
ok(wait_for('dead', sub { worker_state('worker2-monitor') eq 'dead' }, 15), 'then dead after --dead-after-ms');
kill 'CONT', -$t->{pids}{worker2};
ok(wait_for('alive', sub { worker_state('worker2-monitor') eq 'alive' }, 15), 'and alive again when it speaks');
my $log = TilerTest::slurp($t->dir . '/logs/monitor.log');
like($log, qr/warn: worker worker2-monitor is suspect: 2 heartbeats missed/, 'suspect transition logged');
like($log, qr/warn: worker worker2-monitor is dead: no heartbeat for \d+ ms/, 'dead transition logged');
like($log, qr/info: worker worker2-monitor is alive again \(was dead\)/, 'recovery logged');

# ---- how it runs ----
my $mon = $t->bin('tiler-monitor/tiler-monitor');
is(system("$mon --help >/dev/null"), 0, '--help exits 0');
my $out = `$mon --snapshot /tmp/x --bogus 2>&1`;
is($? >> 8, 2, 'a bad flag exits 2');
is(scalar(() = $out =~ /\n/g), 1, "with one line: $out");
my ($fh, $conf) = tempfile(DIR => $t->dir);
print $fh "snapshot = /tmp/x\n";
close $fh;
chmod 0666, $conf;
$out = `$mon -c $conf 2>&1`;
is($? >> 8, 2, 'a world-writable config file is refused');
like($out, qr/world-writable/, 'and says so');
# --config=FILE is the same option (it used to be ignored).
$out = `$mon --config=$conf 2>&1`;
is($? >> 8, 2, '--config=FILE is read too');
like($out, qr/world-writable/, 'and refused the same way');
is($t->stop_process('monitor'), 0, 'SIGTERM: the monitor exits 0');
like(TilerTest::slurp($t->dir . '/logs/monitor.log'), qr/info: stopping/, 'and logs its stop');

$t->finish;
done_testing;
