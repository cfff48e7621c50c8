package hunt

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// AnswerSHA256 returns the SHA-256 of answer trimmed of surrounding white
// space and folded to lower case (strings.TrimSpace, strings.ToLower): the
// value a text clue's answer_sha256 must hold. It is safe for concurrent
// use.
func AnswerSHA256(answer string) []byte {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(answer))))
	return sum[:]
}

// solvedBy reports whether ev's answer solves c: a text answer whose hash is
// c's, or a position within c's target. An answer of the other kind is wrong.
func (c Clue) solvedBy(ev *huntv1.AnswerSubmitted) bool {
	switch a := ev.GetAnswer().(type) {
	case *huntv1.AnswerSubmitted_Text:
		return len(c.AnswerSHA256) == sha256.Size &&
			subtle.ConstantTimeCompare(AnswerSHA256(a.Text), c.AnswerSHA256) == 1
	case *huntv1.AnswerSubmitted_Position:
		return c.Target != nil &&
			distanceMeters(a.Position.GetLatitude(), a.Position.GetLongitude(), c.Target.Latitude, c.Target.Longitude) <= c.Target.RadiusMeters
	}
	return false
}
