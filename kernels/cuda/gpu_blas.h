// The vendor header for the GPU libraries, beside gpu_runtime.h for the runtime: `gpublas*`
// names are cuBLAS on NVIDIA and hipBLAS on AMD; `gpusolver*` names are cuSOLVER's dense API or
// hipSOLVER's (which runs rocSOLVER). Library code includes only this, so the same sources
// build with nvcc and with hipcc (-DQUENCH_GPU=hip, in the ROCm image: Debian ships no hipBLAS).
#pragma once

#include "kernels/cuda/gpu_runtime.h"

#if defined(QUENCH_HIP) || defined(__HIP_PLATFORM_AMD__)
#include <hipblas/hipblas.h>
#include <hipsolver/hipsolver.h>

#define gpublasHandle_t hipblasHandle_t
#define gpublasStatus_t hipblasStatus_t
#define GPUBLAS_STATUS_SUCCESS HIPBLAS_STATUS_SUCCESS
#define gpublasCreate hipblasCreate
#define gpublasDestroy hipblasDestroy
#define gpublasSetStream hipblasSetStream
#define gpublasSgemm hipblasSgemm
#define gpublasDgemm hipblasDgemm
#define gpublasDtrsm hipblasDtrsm
#define GPUBLAS_OP_N HIPBLAS_OP_N
#define GPUBLAS_OP_T HIPBLAS_OP_T
#define GPUBLAS_FILL_MODE_LOWER HIPBLAS_FILL_MODE_LOWER
#define GPUBLAS_DIAG_NON_UNIT HIPBLAS_DIAG_NON_UNIT
#define GPUBLAS_SIDE_LEFT HIPBLAS_SIDE_LEFT
// rocBLAS computes SGEMM in fp32 unless asked for XF32; what it may do is sum with atomics,
// whose order varies run to run: forbid them, for the same bits every run.
#define gpublasUsePedanticMath(handle) hipblasSetAtomicsMode((handle), HIPBLAS_ATOMICS_NOT_ALLOWED)

#define gpusolverHandle_t hipsolverDnHandle_t
#define gpusolverStatus_t hipsolverStatus_t
#define GPUSOLVER_STATUS_SUCCESS HIPSOLVER_STATUS_SUCCESS
#define gpusolverCreate hipsolverDnCreate
#define gpusolverDestroy hipsolverDnDestroy
#define gpusolverSetStream hipsolverDnSetStream
#define gpusolverDpotrf_bufferSize hipsolverDnDpotrf_bufferSize
#define gpusolverDpotrf hipsolverDnDpotrf
#define GPUSOLVER_FILL_MODE_LOWER HIPSOLVER_FILL_MODE_LOWER
#else
#include <cublas_v2.h>
#include <cusolverDn.h>

#define gpublasHandle_t cublasHandle_t
#define gpublasStatus_t cublasStatus_t
#define GPUBLAS_STATUS_SUCCESS CUBLAS_STATUS_SUCCESS
#define gpublasCreate cublasCreate
#define gpublasDestroy cublasDestroy
#define gpublasSetStream cublasSetStream
#define gpublasSgemm cublasSgemm
#define gpublasDgemm cublasDgemm
#define gpublasDtrsm cublasDtrsm
#define GPUBLAS_OP_N CUBLAS_OP_N
#define GPUBLAS_OP_T CUBLAS_OP_T
#define GPUBLAS_FILL_MODE_LOWER CUBLAS_FILL_MODE_LOWER
#define GPUBLAS_DIAG_NON_UNIT CUBLAS_DIAG_NON_UNIT
#define GPUBLAS_SIDE_LEFT CUBLAS_SIDE_LEFT
// fp32 inputs and accumulation, no TF32 (kernels/cuda/README.md says why).
#define gpublasUsePedanticMath(handle) cublasSetMathMode((handle), CUBLAS_PEDANTIC_MATH)

#define gpusolverHandle_t cusolverDnHandle_t
#define gpusolverStatus_t cusolverStatus_t
#define GPUSOLVER_STATUS_SUCCESS CUSOLVER_STATUS_SUCCESS
#define gpusolverCreate cusolverDnCreate
#define gpusolverDestroy cusolverDnDestroy
#define gpusolverSetStream cusolverDnSetStream
#define gpusolverDpotrf_bufferSize cusolverDnDpotrf_bufferSize
#define gpusolverDpotrf cusolverDnDpotrf
#define GPUSOLVER_FILL_MODE_LOWER CUBLAS_FILL_MODE_LOWER
#endif
