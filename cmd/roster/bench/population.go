package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The synthetic population: people with names drawn from common given names
// and compound family names (2 400 of them, so a family name is shared by a
// few people at 10 k and by a few hundred at 1 M, as in a real register),
// unique emails and record numbers, birth dates over ninety years.

var givenFemale = strings.Fields(`Olivia Emma Amelia Ava Sophia Isabella Mia Charlotte Harper Evelyn Abigail Emily
Ella Elizabeth Camila Luna Sofia Avery Mila Aria Scarlett Penelope Layla Chloe Victoria Madison Eleanor Grace Nora
Riley Zoey Hannah Hazel Lily Ellie Violet Lillian Zoe Stella Aurora Natalie Emilia Everly Leah Aubrey Willow Addison
Lucy Audrey Bella Amara Ingrid Fatima Aisha Mei Yuki Priya Ananya Chiara Giulia Lena Marta Ines Noor`)

var givenMale = strings.Fields(`Liam Noah Oliver Elijah James William Benjamin Lucas Henry Theodore Jack Levi Alexander
Jackson Mateo Daniel Michael Mason Sebastian Ethan Logan Owen Samuel Jacob Asher Aiden John Joseph Wyatt David Leo
Luke Julian Hudson Grayson Matthew Ezra Gabriel Carter Isaac Jayden Luca Anthony Dylan Lincoln Thomas Maverick Elias
Josiah Charles Caleb Christopher Ezekiel Omar Hiroshi Raj Arjun Marco Luis Tomas Jonas Kofi Dmitri Ahmed`)

var familyHeads = strings.Fields(`Ander Black Brad Brook Cald Camp Carl Chad Clark Cole Crane Dal Dun Ed Ell Fair Field
Fox Gar Glen Gold Green Hale Ham Hart Hay Hol Kings Lang Lind Mar Mid Mont Nor Oak Ox Pem Ports Rad Red Ros Rut San
Sher Shel Stan Stock Sut Thorn Wal War Wes Whit Wil Win Wood Yar Ash Bell Bur`)

var familyTails = strings.Fields(`son ton ley wood well worth field ford man more by dale stone bridge brook er
ham hurst wick wright land mont ridge shaw cott win croft gate wood ing low mere vale stead berg burn den holm ington`)

var cities = []string{"Springfield", "Riverton", "Fairview", "Greenville", "Bristol", "Clinton", "Georgetown", "Salem",
	"Madison", "Franklin", "Arlington", "Ashland", "Burlington", "Dover", "Milton", "Oxford"}

var streets = []string{"Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Ave", "Lake Rd",
	"Hill St", "Park Ave", "River Rd", "Church St"}

// MRNSystem is the identifier system of the synthetic medical record numbers.
const MRNSystem = "http://hospital.example.org/mrn"

// NPISystem is the identifier system of the synthetic practitioners' numbers.
const NPISystem = "http://hl7.org/fhir/sid/us-npi"

// Person is one synthetic person and what the workloads need to find them.
type Person struct {
	Given, Family string
	Gender        string
	BirthDate     string
	Email         string
	Phone         string
	MRN           string
	Street, City  string
	Postal        string
}

// generator makes people deterministically from a seed; run (a per-run
// random tag) keeps emails and numbers unique across runs on one database.
type generator struct {
	rnd *rand.Rand
	run string
	n   int
}

func newGenerator(seed uint64, run string) *generator {
	return &generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), run: run}
}

func (g *generator) person() Person {
	g.n++
	p := Person{Family: familyHeads[g.rnd.IntN(len(familyHeads))] + familyTails[g.rnd.IntN(len(familyTails))]}
	if g.rnd.IntN(2) == 0 {
		p.Gender, p.Given = "female", givenFemale[g.rnd.IntN(len(givenFemale))]
	} else {
		p.Gender, p.Given = "male", givenMale[g.rnd.IntN(len(givenMale))]
	}
	y, m, d := 1930+g.rnd.IntN(91), 1+g.rnd.IntN(12), 1+g.rnd.IntN(28)
	p.BirthDate = fmt.Sprintf("%04d-%02d-%02d", y, m, d)
	p.Email = strings.ToLower(p.Given+"."+p.Family) + "." + g.run + strconv.Itoa(g.n) + "@example.org"
	p.Phone = fmt.Sprintf("+1-555-%03d-%04d", g.rnd.IntN(1000), g.rnd.IntN(10000))
	p.MRN = "MRN-" + g.run + "-" + strconv.Itoa(g.n)
	p.Street = strconv.Itoa(1+g.rnd.IntN(9999)) + " " + streets[g.rnd.IntN(len(streets))]
	p.City = cities[g.rnd.IntN(len(cities))]
	p.Postal = fmt.Sprintf("%05d", g.rnd.IntN(100000))
	return p
}

// namePrefix is what a user types to find p by name: the family name less
// its last letter, lower case (a string search matches by prefix).
func (p Person) namePrefix() string {
	f := strings.ToLower(p.Family)
	return f[:len(f)-1]
}

type obj = map[string]any

// patientJSON is the Patient resource of p; id "" for a create.
func (p Person) patient(id string) obj {
	r := obj{
		"resourceType": "Patient",
		"active":       true,
		"identifier":   []obj{{"system": MRNSystem, "value": p.MRN}},
		"name":         []obj{{"use": "official", "family": p.Family, "given": []string{p.Given}}},
		"telecom": []obj{
			{"system": "email", "value": p.Email},
			{"system": "phone", "value": p.Phone, "use": "mobile"},
		},
		"gender":    p.Gender,
		"birthDate": p.BirthDate,
		"address":   []obj{{"line": []string{p.Street}, "city": p.City, "postalCode": p.Postal, "country": "US"}},
	}
	if id != "" {
		r["id"] = id
	}
	return r
}

func (p Person) practitioner() obj {
	return obj{
		"resourceType": "Practitioner",
		"active":       true,
		"identifier":   []obj{{"system": NPISystem, "value": strings.TrimPrefix(p.MRN, "MRN-")}},
		"name":         []obj{{"family": p.Family, "given": []string{p.Given}, "prefix": []string{"Dr."}}},
		"telecom":      []obj{{"system": "email", "value": p.Email}},
		"gender":       p.Gender,
		"birthDate":    p.BirthDate,
	}
}

func (p Person) relatedPerson(patientRef string) obj {
	return obj{
		"resourceType": "RelatedPerson",
		"active":       true,
		"patient":      obj{"reference": patientRef},
		"name":         []obj{{"family": p.Family, "given": []string{p.Given}}},
		"telecom":      []obj{{"system": "phone", "value": p.Phone}},
		"gender":       p.Gender,
	}
}

// entry is one POST entry of a transaction Bundle.
func entry(fullURL string, resource obj) obj {
	return obj{"fullUrl": fullURL, "resource": resource,
		"request": obj{"method": "POST", "url": resource["resourceType"]}}
}

func transaction(entries []obj) []byte {
	b, _ := json.Marshal(obj{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

// loadBundle makes one transaction Bundle of about size resources: per ten,
// six Patients, two Practitioners and, for one of the practitioners, a
// project-scoped User and the ProjectMembership joining them. It returns the
// Patients in entry order.
func (g *generator) loadBundle(size int, project string) ([]byte, []Person) {
	entries := make([]obj, 0, size)
	var patients []Person
	for len(entries) < size {
		slot := len(entries) % 10
		switch {
		case slot < 6 || size-len(entries) < 4:
			p := g.person()
			patients = append(patients, p)
			entries = append(entries, entry("urn:uuid:"+uuidLike(g.rnd), p.patient("")))
		case slot == 6:
			entries = append(entries, entry("urn:uuid:"+uuidLike(g.rnd), g.person().practitioner()))
		default: // a practitioner with a user and a membership
			p := g.person()
			pr, us := "urn:uuid:"+uuidLike(g.rnd), "urn:uuid:"+uuidLike(g.rnd)
			entries = append(entries,
				entry(pr, p.practitioner()),
				entry(us, obj{"resourceType": "User", "firstName": p.Given, "lastName": p.Family, "email": p.Email,
					"project": obj{"reference": "Project/" + project}}),
				entry("urn:uuid:"+uuidLike(g.rnd), obj{"resourceType": "ProjectMembership",
					"project": obj{"reference": "Project/" + project},
					"user":    obj{"reference": us}, "profile": obj{"reference": pr, "display": p.Given + " " + p.Family}}))
		}
	}
	return transaction(entries), patients
}

// patientBundle is the "1 Patient + 9 resources" transaction: a Patient
// and nine RelatedPersons pointing at it through its urn:uuid.
func (g *generator) patientBundle() []byte {
	p := g.person()
	ref := "urn:uuid:" + uuidLike(g.rnd)
	entries := []obj{entry(ref, p.patient(""))}
	for range 9 {
		entries = append(entries, entry("urn:uuid:"+uuidLike(g.rnd), g.person().relatedPerson(ref)))
	}
	return transaction(entries)
}

func uuidLike(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, (b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}
