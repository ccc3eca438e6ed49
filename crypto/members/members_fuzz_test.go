package members

import "testing"

// FuzzParse: no member file crashes the parser, and every member it
// accepts has a valid name.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"members":[{"name":"anna","recipient":"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p","added":"2026-11-28T09:00:00Z"}]}`))
	f.Add([]byte(`{"members":[{"name":"","recipient":""}]}`))
	f.Add([]byte(""))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("members.json", data)
		if err != nil {
			return
		}
		for _, m := range r.Members() {
			if CheckName(m.Name) != nil {
				t.Fatalf("accepted the member name %q", m.Name)
			}
		}
	})
}
