package canary

import (
	"context"

	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// serviceProfileWarning is the warning about a Linkerd ServiceProfile of
// the Service under --traffic-router linkerd, "" when none applies.
func (c *Canary) serviceProfileWarning(ctx context.Context, p *plan) string {
	if p.router == nil || p.router.Kind() != traffic.RouterLinkerd {
		return ""
	}
	sp, err := traffic.LinkerdServiceProfile(ctx, c.Dynamic, p.service.Namespace, p.service.Name)
	if err != nil {
		return "warning: " + err.Error()
	}
	if sp == "" {
		return ""
	}
	return traffic.ServiceProfileWarning(p.service.Namespace, p.service.Name, sp)
}
