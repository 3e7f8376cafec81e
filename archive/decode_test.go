package archive

// decode validates a data record in r.buf and indexes its value sets,
// keeping those whose PMID is in want (all when want is nil): the tests'
// form of decodeSets, without a reader's layout cache.
func (r *Record) decode(hdr int, want map[PMID]struct{}) string {
	return r.decodeSets(hdr, &setLayout{want: want})
}
