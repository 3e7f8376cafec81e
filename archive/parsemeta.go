package archive

// ParseMeta decodes the whole content of a .meta file (label included), for
// tools and tests that hold its bytes; name is used in errors.
func ParseMeta(name string, b []byte) (*Meta, Label, error) {
	l, err := parseLabel(b, name, volMeta)
	if err != nil {
		return nil, l, err
	}
	a := &Archive{Label: l, Meta: newMeta(name)}
	return a.Meta, l, a.loadMeta(b)
}
