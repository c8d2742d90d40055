# The tasks topic's partition count (TilerTasksPartitions, --tasks-partitions):
# an existing topic with fewer partitions is grown and the growth logged, a
# bad count stops startup, and more than 12 workers in one group all get
# tasks (with 12 partitions, the 13th worker on stood idle).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path remove_tree);
use Test::More;
use Time::HiRes qw(sleep time);
use TilerTest;

my $WORKERS = 16;
my $t = TilerTest->new(name => 'partitions', directives => "TilerTasksPartitions 20\nTilerTileSize 256\n");
TilerTest::need($t->kafka_ready, "a Kafka broker on $t->{brokers}");
TilerTest::need(system('command -v kcat >/dev/null') == 0, 'kcat');
my $tasks = $t->{topics}{tasks};

# Partitions kcat lists for a topic (0 while it is missing).
sub partitions {
    my $out = `kcat -b $t->{brokers} -L -t $tasks 2>&1`;
    return $out =~ /topic "\Q$tasks\E" with (\d+) partitions/ ? $1 : 0;
}

sub wait_for {
    my ($cond, $secs) = @_;
    my $deadline = time + ($secs // 20);
    while (time < $deadline) { my $v = $cond->(); return $v if $v; sleep 0.2; }
    return;
}

# ---- a bad count is a startup error, in the module and the daemons ----
my $bad = TilerTest->new(name => 'partitions-bad', directives => "TilerTasksPartitions 0\n");
$bad->write_httpd_conf;
my $out = `apache2 -f $bad->{dir}/httpd.conf -t 2>&1`;
like($out, qr/TilerTasksPartitions: '0' is not a whole number in 1\.\.1024/, 'TilerTasksPartitions 0 is refused at startup');
# Global only: there is one producer per child and one results consumer.
$bad->{directives} = "<VirtualHost $bad->{http_host}:$bad->{http_port}>\nServerName other.test\nTilerTasksPartitions 30\n</VirtualHost>\n";
$bad->write_httpd_conf;
$out = `apache2 -f $bad->{dir}/httpd.conf -t 2>&1`;
like($out, qr/AH30020: mod_tiler: TilerTasksPartitions is set in <VirtualHost other\.test:\d+>/, 'TilerTasksPartitions in a virtual host is refused');
remove_tree($bad->dir);
$out = `${\ $t->bin('tiler-worker/tiler-worker')} --tasks-partitions 1025 --foreground 2>&1`;
like($out, qr/tasks-partitions '1025' is not in 1\.\.1024/, 'tiler-worker refuses --tasks-partitions 1025');
$out = `${\ $t->bin('tiler-monitor/tiler-monitor')} --snapshot /dev/null --tasks-partitions x --foreground 2>&1`;
like($out, qr/tasks-partitions 'x' is not in 1\.\.1024/, 'tiler-monitor refuses --tasks-partitions x');

# ---- an existing topic with the default 12 is grown to 20 ----
# A worker with the defaults creates the topics, as an older deployment did.
make_path($t->dir . '/logs');
$t->start_worker(1, args => ['--threads', 1]);
ok(wait_for(sub { partitions() == 12 }), 'the topic is created with the default 12 partitions');
$t->start_httpd;
ok(wait_for(sub { partitions() == 20 }), 'httpd with TilerTasksPartitions 20 grows it to 20');
my $log = TilerTest::slurp($t->dir . '/logs/error.log');
like($log, qr/\[tiler:info\] .*AH30040: topic \Q$tasks\E grown from 12 to 20 partitions/, 'the growth is logged once, at info');
is(scalar(() = $log =~ /AH30040/g), 1, 'by one process only');

# A daemon asking for more grows it too, and says so in one line.
$t->stop_process('worker1');
$t->start_worker(1, args => ['--threads', 1, '--tasks-partitions', 24, '--log-level', 'debug']);
ok(wait_for(sub { partitions() == 24 }), 'tiler-worker --tasks-partitions 24 grows it to 24');
ok(wait_for(sub { TilerTest::slurp($t->dir . '/logs/worker1.log') =~ /info: topic \Q$tasks\E grown from 20 to 24 partitions/ }),
   'and logs it at info');

# ---- 16 workers in one group all receive tasks ----
# Asking for fewer than the topic has leaves it alone (Kafka cannot shrink).
$t->start_worker($_, args => ['--threads', 1, '--tasks-partitions', 16, '--log-level', 'debug']) for 2 .. $WORKERS;
# Every worker's latest assignment holds a partition: the group has settled.
sub assigned {
    my ($n) = @_;
    my $l = eval { TilerTest::slurp($t->dir . "/logs/worker$n.log") } // '';
    my @a = $l =~ /(assigned|revoked) partitions \[([^\]]*)\]/g;
    return @a && $a[-2] eq 'assigned' && $a[-1] ne '';
}
my $settled = wait_for(sub { !grep { !assigned($_) } 1 .. $WORKERS }, 60);
ok($settled, "all $WORKERS workers hold at least one partition")
    or diag('idle: ' . join(' ', map { "worker$_" } grep { !assigned($_) } 1 .. $WORKERS));
is(partitions(), 24, 'workers asking for 16 leave the 24 partitions alone');

my $img = $t->make_image('p.png', 4096, 4096, 'png', 0, 46);
my ($r, $j) = $t->submit($img, 'invert');
is($r->{status}, 202, 'a 256-tile job is accepted');
is($j->{tiles_total}, 256, 'of 256 tiles');
my ($done) = $t->wait_job($j->{id}, 180);
is($done->{state}, 'done', 'the job completes');
my ($msg, $same) = $t->matches_local($j->{id}, $img, 'invert');
ok($same, "the result equals local mode ($msg)");
my @idle;
for my $n (1 .. $WORKERS) {
    my $l = TilerTest::slurp($t->dir . "/logs/worker$n.log");
    push @idle, "worker$n" unless $l =~ /job \Q$j->{id}\E tile \d+\/\d+ done/;
}
is("@idle", '', "every one of the $WORKERS workers processed tiles of the job");

$t->finish;
done_testing;
