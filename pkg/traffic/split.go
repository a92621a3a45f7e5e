package traffic

import "fmt"

// ReplicaSplit divides total replicas between a canary and its stable
// Deployment for a canary weight in percent: the canary gets
// ceil(total*weight/100) replicas (at least 1 when weight > 0, at most total)
// and the stable the rest. It is the whole traffic split when the only router
// is a Service that selects the pods of both, and the capacity each side
// needs for its share when a router sets exact weights.
func ReplicaSplit(total int32, weight int) (canary, stable int32) {
	if total <= 0 || weight <= 0 {
		return 0, max(total, 0)
	}
	if weight >= 100 {
		return total, 0
	}
	canary = int32((int64(total)*int64(weight) + 99) / 100)
	canary = max(canary, 1)
	canary = min(canary, total)
	return canary, total - canary
}

// ValidateWeight reports a weight outside 0..100.
func ValidateWeight(w int) error {
	if w < 0 || w > 100 {
		return fmt.Errorf("weight %d is outside 0..100", w)
	}
	return nil
}

// EffectiveWeight is the share in percent of ready canary pods among all the
// ready pods behind a Service, rounded to the nearest whole percent.
func EffectiveWeight(readyCanary, readyTotal int) int {
	if readyTotal <= 0 {
		return 0
	}
	return (readyCanary*100 + readyTotal/2) / readyTotal
}
