package gitops

import (
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// splitImage cuts an image reference into repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// setKustomizeImage points the kustomization's images: entry of the old
// image at the new one: the entry whose newName (or, without one, name) is
// the old image's repository.
func setKustomizeImage(kust *kyaml.RNode, im ImageChange, set setFunc) error {
	oldRepo, _, _ := splitImage(im.From)
	newRepo, newTag, newDigest := splitImage(im.To)
	var entry *kyaml.RNode
	if list := kust.Field("images"); list != nil && list.Value.YNode().Kind == kyaml.SequenceNode {
		elems, err := list.Value.Elements()
		if err != nil {
			return err
		}
		for _, e := range elems {
			name := fieldString(e, "name")
			if nn := fieldString(e, "newName"); nn != "" {
				name = nn
			}
			if name == oldRepo {
				entry = e
				break
			}
		}
	}
	if entry == nil {
		// a new entry: set learns that the change adds to the file
		if err := set(kust, "", ""); err != nil {
			return err
		}
		list, err := blockList(kust, "images")
		if err != nil {
			return err
		}
		entry = kyaml.NewMapRNode(&map[string]string{"name": oldRepo})
		if err := list.PipeE(kyaml.Append(entry.YNode())); err != nil {
			return err
		}
	}
	if newRepo != fieldString(entry, "name") || fieldString(entry, "newName") != "" {
		if err := set(entry, "newName", newRepo); err != nil {
			return err
		}
	}
	if err := set(entry, "newTag", newTag); err != nil {
		return err
	}
	return set(entry, "digest", newDigest)
}
