package store

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/rosterhq/roster/resources"
)

var _ = Describe("Database errors", func() {
	DescribeTable("text PostgreSQL cannot store is the client's 400, not a 500",
		func(code string) {
			err := translate(fmt.Errorf("insert: %w", &pgconn.PgError{Code: code, Message: "invalid byte sequence for encoding \"UTF8\": 0x00"}))
			e, ok := resources.AsError(err)
			Expect(ok).To(BeTrue())
			Expect(e.Kind).To(Equal(resources.KindInvalid))
			Expect(e.Error()).NotTo(ContainSubstring("UTF8"), "no internals")
		},
		Entry("character not in repertoire", "22021"),
		Entry("untranslatable character", "22P05"),
	)

	It("leaves other statement errors to be internal errors", func() {
		err := translate(&pgconn.PgError{Code: "42P01"})
		_, ok := resources.AsError(err)
		Expect(ok).To(BeFalse())
		Expect(errors.As(err, new(*pgconn.PgError))).To(BeTrue())
	})
})
