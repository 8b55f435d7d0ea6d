#ifndef COPENMPI_SHIM_H
#define COPENMPI_SHIM_H
// Open MPI's C interface; the include directory comes from pkg-config (ompi-c.pc).
// MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM... are macros that cast the address of a global object, which
// Swift does not import: these inline functions give them to Swift.
#include <mpi.h>

static inline MPI_Comm rlhf_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype rlhf_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype rlhf_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype rlhf_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype rlhf_mpi_long_long(void) { return MPI_LONG_LONG; }
static inline MPI_Op rlhf_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op rlhf_mpi_max(void) { return MPI_MAX; }
static inline void *rlhf_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int rlhf_mpi_success(void) { return MPI_SUCCESS; }
static inline MPI_Errhandler rlhf_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
#endif
