package plugin

import (
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/canary"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/rolling"
)

// registry is the one list of strategies that resume and abort hand a
// recorded operation to, by the strategy named in its record. A fourth
// strategy is its package and one line here.
var registry = strategies.Registry{
	rolling.Strategy:   rolling.NewResumer(),
	bluegreen.Strategy: bluegreen.NewResumer(),
	canary.Strategy:    canary.NewResumer(),
}
