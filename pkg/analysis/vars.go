package analysis

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// Labels read by VarsFor, first match wins.
var (
	VersionLabels = []string{"version", "app.kubernetes.io/version"}
	ColorLabels   = []string{"color", "colour", "zdd.dev/color"}
	TrackLabels   = []string{"track", "zdd.dev/track"}
)

// RevisionAnnotation is where the Deployment controller keeps the revision.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// VarsFor fills Vars from a Deployment: its namespace and name; the version,
// colour and track from its pod template's labels (the version falls back to
// the tag of the first container's image); the revision from its
// deployment.kubernetes.io/revision annotation.
func VarsFor(d *appsv1.Deployment) Vars {
	if d == nil {
		return Vars{}
	}
	l := d.Spec.Template.Labels
	v := Vars{
		Namespace: d.Namespace,
		Name:      d.Name,
		Version:   firstLabel(l, VersionLabels),
		Color:     firstLabel(l, ColorLabels),
		Track:     firstLabel(l, TrackLabels),
		Revision:  d.Annotations[RevisionAnnotation],
	}
	if v.Version == "" && len(d.Spec.Template.Spec.Containers) > 0 {
		v.Version = imageTag(d.Spec.Template.Spec.Containers[0].Image)
	}
	return v
}

func firstLabel(l map[string]string, keys []string) string {
	for _, k := range keys {
		if v := l[k]; v != "" {
			return v
		}
	}
	return ""
}

// imageTag is the tag of an image reference ("" when it has none; a digest
// is returned without its algorithm prefix).
func imageTag(image string) string {
	if i := strings.LastIndex(image, "@"); i >= 0 {
		d := image[i+1:]
		if j := strings.Index(d, ":"); j >= 0 {
			return d[j+1:]
		}
		return d
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[i+1:]
	}
	return ""
}
