package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"doorbell/events"
)

// recorderSubscriber names the recorder's subscription to the bus: the
// recorder asks how many events under this name were dropped.
const recorderSubscriber = "recorder"

var droppedDesc = prometheus.NewDesc("doorbell_events_dropped_total",
	"Events a subscriber of the in-process bus lost because its buffer was full.", []string{"subscriber"}, nil)

// busMetrics exports events.Bus's drop counts as doorbell_events_dropped_total{subscriber}.
type busMetrics struct{ bus *events.Bus }

func (m busMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- droppedDesc }

func (m busMetrics) Collect(ch chan<- prometheus.Metric) {
	for name, n := range m.bus.DroppedBySubscriber() {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), name)
	}
}
