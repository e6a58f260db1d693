package app

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the application's Prometheus metrics.
type Metrics struct {
	txTotal         *prometheus.CounterVec
	checkTotal      *prometheus.CounterVec
	checkSeconds    prometheus.Histogram
	finalizeSeconds prometheus.Histogram
	blockTxs        prometheus.Histogram
	height          prometheus.Gauge
	optimisticTotal *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		txTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "carechain", Name: "tx_total",
			Help: "Transactions executed in blocks, by message type and result code."}, []string{"type", "code"}),
		checkTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "carechain", Name: "checktx_total",
			Help: "Transactions checked for the mempool, by result code."}, []string{"code"}),
		checkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "carechain", Name: "checktx_seconds",
			Help: "Time to check one transaction.", Buckets: prometheus.ExponentialBuckets(10e-6, 2, 14)}),
		finalizeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "carechain", Name: "finalize_block_seconds",
			Help: "Time to execute one block.", Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16)}),
		blockTxs: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "carechain", Name: "block_txs",
			Help: "Transactions per block.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "carechain", Name: "committed_height",
			Help: "Last committed block height."}),
		optimisticTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "carechain", Name: "optimistic_blocks_total",
			Help: "Blocks executed ahead of their decision, by whether the result was used or discarded."}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.txTotal, m.checkTotal, m.checkSeconds, m.finalizeSeconds, m.blockTxs, m.height, m.optimisticTotal)
	}
	return m
}
