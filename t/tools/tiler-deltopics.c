/* tiler-deltopics BROKERS TOPIC...: deletes a test's own topics when it
 * ends. The project's topics keep their messages for a day, and a
 * gigapixel test's results topic holds 4 bytes a pixel (4 GiB at 1 GP) on
 * the broker's disk. Exit 0 when every topic is gone, 1 otherwise (one
 * line per failure). */
#include <stdio.h>
#include <stdlib.h>
#include <librdkafka/rdkafka.h>

int main(int argc, char **argv)
{
    char err[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    rd_kafka_DeleteTopic_t **del;
    const rd_kafka_topic_result_t **res;
    size_t n, i;
    int bad = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: tiler-deltopics BROKERS TOPIC...\n");
        return 2;
    }
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK ||
        !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)))) {
        fprintf(stderr, "tiler-deltopics: %s\n", err);
        return 1;
    }
    n = (size_t)argc - 2;
    if (!(del = calloc(n, sizeof(*del)))) return 1;
    for (i = 0; i < n; i++) del[i] = rd_kafka_DeleteTopic_new(argv[i + 2]);
    q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, n, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "tiler-deltopics: %s\n", ev ? rd_kafka_event_error_string(ev) : "no answer in 30 s");
        bad = 1;
    } else {
        res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        for (i = 0; i < n; i++) {
            if (!rd_kafka_topic_result_error(res[i])) continue;
            fprintf(stderr, "tiler-deltopics: %s: %s\n", rd_kafka_topic_result_name(res[i]),
                    rd_kafka_topic_result_error_string(res[i]));
            bad = 1;
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy_array(del, (size_t)argc - 2);
    free(del);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return bad;
}
