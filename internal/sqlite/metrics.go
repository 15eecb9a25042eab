package sqlite

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Collectors exposes the connection pool statistics of the writer and the
// read pool, labelled db_name="sqlite_write" and "sqlite_read".
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewDBStatsCollector(s.write, "sqlite_write"),
		collectors.NewDBStatsCollector(s.read, "sqlite_read"),
	}
}
